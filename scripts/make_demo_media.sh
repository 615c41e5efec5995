#!/usr/bin/env bash
# Regenerate the small demo media files of the "english-7" demo book.
#
# Everything is synthesised from ffmpeg lavfi sources (tones, test patterns),
# so no external assets are needed. The output is committed to the repo, so
# this script is NOT part of `make run`; run it by hand only when the demo
# media need to change:
#
#     scripts/make_demo_media.sh            # every part
#     scripts/make_demo_media.sh unite2 covers   # only these parts
#
# Parts: english7 (the original files below), unite2, subtitles, covers.
# A part rewrites only its own files; another ffmpeg version may encode
# different bytes, so regenerate only the part that changes.
#
# Output (english7): books/demo_media/english-7/
#   audio/01-welcome.mp3     MP3, 22.05 kHz mono, 32 kbit/s
#   audio/02-dialogue.ogg    Ogg Vorbis, 16 kHz mono, constant 16 kbit/s
#   audio/03-listening.wav   PCM WAV, 8 kHz mono 16-bit
#   audio/04-song.m4a        AAC-LC in MP4 (faststart), 22.05 kHz mono
#   video/lesson-1.mp4       H.264 main/yuv420p 320x180 15 fps + AAC (faststart)
#   video/lesson-1.vtt/.srt  subtitles for lesson-1.mp4 (.srt: CRLF, UTF-8)
#   video/lesson-2.webm      VP9 320x180 15 fps + Opus
#   images/cover.png         400x560 cover
#   "Ünite 1/müzik.mp3"      MP3 in a folder with a space / latin-1 name (NFC)
# unite2: "Ünite 2/01 Greetings.mp3" … "06 Review.mp3", six MP3s (16 kHz mono,
#   16 kbit/s), "04 Şarkı.mp3" a name DCS's object endpoint cannot serve
#   (outside Latin-1), "02 Numbers.vtt"/".tr.vtt" an English and a Turkish
#   transcript of one audio track
# subtitles: video/lesson-1.tr.vtt, the Turkish subtitles of lesson-1.mp4
# covers: books/demo_media/{science-8,history-9}/images/cover.png, one per book
#
# Every audio/video file is DURATION seconds long (>= 32 s) and changes
# audibly/visibly over time, so seeking is easy to check by ear and eye.
# Bit-exact flags, no metadata and single-threaded encoders keep reruns stable.
set -euo pipefail

FFMPEG=${FFMPEG:-ffmpeg}
DURATION=36

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$repo_root/books/demo_media/english-7"

# Non-ASCII names written as UTF-8 bytes (NFC: U+00DC, U+00FC) so they do
# not depend on the locale this script runs under.
unite_dir=$'\xc3\x9cnite 1'        # "Ünite 1"
muzik_file=$'m\xc3\xbczik.mp3'      # "müzik.mp3"

font=""
for f in /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf \
         /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf; do
    if [[ -f $f ]]; then font=$f; break; fi
done
if [[ -z $font ]] && command -v fc-match >/dev/null 2>&1; then
    font=$(fc-match -f '%{file}' 'DejaVu Sans:bold' 2>/dev/null || true)
    [[ -f $font ]] || font=""
fi

demo="$repo_root/books/demo_media"
unite2_dir=$'\xc3\x9cnite 2'       # "Ünite 2"
parts=("$@")
[[ ${#parts[@]} -gt 0 ]] || parts=(english7 unite2 subtitles covers)

# Common flags: quiet, overwrite, no metadata, bit-exact muxing/encoding.
ff() {
    "$FFMPEG" -nostdin -hide_banner -loglevel error -y "$@"
}
BITEXACT=(-map_metadata -1 -fflags +bitexact -flags:a +bitexact)
BITEXACT_V=(-flags:v +bitexact)

# melody BASE_HZ NOTE_SECONDS "SEMITONES..."
# Prints an aevalsrc expression playing the given notes (semitones above
# BASE_HZ, "r" = rest) one after another, looping, each note with a short
# attack/release and a decay, plus a soft second harmonic.
melody() {
    local base=$1 dur=$2 notes=($3)
    local n=${#notes[@]} i pitch="" gate=""
    for ((i = 0; i < n; i++)); do
        if [[ ${notes[i]} == r ]]; then
            continue
        fi
        pitch+="+eq(mod(floor(t/$dur),$n),$i)*${notes[i]}"
        gate+="+eq(mod(floor(t/$dur),$n),$i)"
    done
    local x="mod(t,$dur)"
    local env="min(1,$x*60)*min(1,($dur-$x)*60)*exp(-2*$x/$dur)"
    local f="$base*pow(2,(0${pitch})/12)"
    printf '%s' "(0${gate})*$env*(0.45*sin(2*PI*t*$f)+0.12*sin(4*PI*t*$f))"
}

audio_src() { # audio_src EXPR SAMPLE_RATE
    printf "aevalsrc='%s':s=%s:c=mono:d=%s" "$1" "$2" "$DURATION"
}

# --- melodies --------------------------------------------------------------
# 01: a rising/falling major arpeggio fanfare, one note every 0.5 s.
welcome=$(melody 261.63 0.5 "0 4 7 12 7 4 0 r 2 5 9 14 9 5 2 r 4 7 11 16 11 7 4 r")
# 02: "two speakers": a low and a high phrase alternating every 2 s.
dialogue=$(melody 196 0.25 "0 2 4 5 4 2 0 r 12 14 16 17 19 17 16 r 0 3 5 7 5 3 0 r 15 14 12 10 12 14 15 r")
# 03: a slow chromatic ladder, one semitone per second for 36 s (pitch = position).
listening=$(melody 220 1 "$(seq -s " " 0 35)")
# 04: "Twinkle, Twinkle, Little Star".
song=$(melody 261.63 0.5 "0 0 7 7 9 9 7 r 5 5 4 4 2 2 0 r 7 7 5 5 4 4 2 r 7 7 5 5 4 4 2 r")
# Ünite 1/müzik: a minor-pentatonic tune, a bit faster.
muzik=$(melody 293.66 0.375 "0 3 5 7 10 12 10 7 5 3 0 r 7 5 3 0 3 5 7 r")
# Video soundtracks: a beep on every second, higher on each full 5 s.
tick="lt(mod(t,1),0.12)*0.4*sin(2*PI*t*if(lt(mod(t,5),1),880,440))"
lesson2=$(melody 329.63 0.5 "0 4 7 4 0 4 7 12 r 12 7 4 0 r r r")

english7() {
    mkdir -p "$out/audio" "$out/video" "$out/images" "$out/$unite_dir"
    # --- audio -----------------------------------------------------------------
    echo "audio/01-welcome.mp3"
    ff -f lavfi -i "$(audio_src "$welcome" 22050)" "${BITEXACT[@]}" \
        -c:a libmp3lame -b:a 32k -ac 1 -ar 22050 -id3v2_version 0 -write_id3v1 0 \
        "$out/audio/01-welcome.mp3"

    echo "audio/02-dialogue.ogg"
    # Ogg has no duration field: a player reads the last page to learn it, which
    # needs HTTP Range support. Without Range, browsers estimate the duration from
    # the nominal bitrate, so encode at a constant 16 kbit/s (min = max = nominal)
    # to keep that estimate right (VBR -q:a 0 made Chromium show ~11 s instead of 36).
    ff -f lavfi -i "$(audio_src "$dialogue" 16000)" "${BITEXACT[@]}" \
        -c:a libvorbis -b:a 16k -minrate 16k -maxrate 16k -ac 1 -ar 16000 \
        "$out/audio/02-dialogue.ogg"

    echo "audio/03-listening.wav"
    ff -f lavfi -i "$(audio_src "$listening" 8000)" "${BITEXACT[@]}" \
        -c:a pcm_s16le -ac 1 -ar 8000 \
        "$out/audio/03-listening.wav"

    echo "audio/04-song.m4a"
    ff -f lavfi -i "$(audio_src "$song" 22050)" "${BITEXACT[@]}" \
        -c:a aac -b:a 32k -ac 1 -ar 22050 -movflags +faststart \
        "$out/audio/04-song.m4a"

    echo "$unite_dir/$muzik_file"
    ff -f lavfi -i "$(audio_src "$muzik" 22050)" "${BITEXACT[@]}" \
        -c:a libmp3lame -b:a 32k -ac 1 -ar 22050 -id3v2_version 0 -write_id3v1 0 \
        "$out/$unite_dir/$muzik_file"

    # --- video -----------------------------------------------------------------
    # drawtext overlay "TITLE  mm:ss" (elapsed time), if a font is available.
    overlay() { # overlay TITLE
        if [[ -n $font ]]; then
            printf '%s' ",drawtext=fontfile='$font':fontsize=22:fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=6:x=(w-tw)/2:y=h-th-14:text='$1  %{eif\:floor(t/60)\:d\:2}\:%{eif\:mod(floor(t),60)\:d\:2}'"
        fi
    }

    echo "video/lesson-1.mp4"
    if [[ -n $font ]]; then
        vsrc1="testsrc2=s=320x180:r=15:d=$DURATION$(overlay 'Lesson 1')"
    else
        vsrc1="testsrc=s=320x180:r=15:d=$DURATION"   # draws its own counter
    fi
    ff -f lavfi -i "$vsrc1" \
        -f lavfi -i "$(audio_src "$tick" 22050)" \
        "${BITEXACT[@]}" "${BITEXACT_V[@]}" \
        -c:v libx264 -profile:v main -pix_fmt yuv420p -preset medium -crf 34 \
        -g 30 -threads 1 \
        -c:a aac -b:a 32k -ac 1 -ar 22050 \
        -shortest -movflags +faststart \
        "$out/video/lesson-1.mp4"

    echo "video/lesson-2.webm"
    if [[ -n $font ]]; then
        vsrc2="gradients=s=320x180:r=15:d=$DURATION:n=3:speed=0.12:seed=7:c0=0x1b4965:c1=0xf4a261:c2=0x2a9d8f$(overlay 'Lesson 2')"
    else
        vsrc2="testsrc=s=320x180:r=15:d=$DURATION,hue=h=120"
    fi
    ff -f lavfi -i "$vsrc2" \
        -f lavfi -i "$(audio_src "$lesson2" 48000)" \
        "${BITEXACT[@]}" "${BITEXACT_V[@]}" \
        -c:v libvpx-vp9 -pix_fmt yuv420p -b:v 0 -crf 45 -deadline good -cpu-used 4 \
        -row-mt 0 -threads 1 -g 30 \
        -c:a libopus -b:a 24k -ac 1 \
        -shortest \
        "$out/video/lesson-2.webm"

    # --- subtitles for lesson-1.mp4: one cue every 4 s -------------------------
    cues=(
        "Welcome to English 7, Lesson 1: Meeting New People."
        "Today we will learn how to introduce ourselves."
        "Listen: \"Hello, my name is Ayşe. What's your name?\""
        "\"Hi, I'm Tom. Nice to meet you!\""
        "Now repeat after me: \"Nice to meet you, too.\""
        "\"Where are you from?\" \"I'm from İzmir.\""
        "Ask your partner three questions about their hobbies."
        "Great job! Write five sentences about yourself."
        "See you in Lesson 2. Goodbye!"
    )
    ts() { # ts SECONDS SEPARATOR -> 00:00:SS<sep>000
        printf '%02d:%02d:%02d%s000' $(($1 / 3600)) $(($1 / 60 % 60)) $(($1 % 60)) "$2"
    }
    echo "video/lesson-1.vtt, video/lesson-1.srt"
    {
        printf 'WEBVTT\n\n'
        for i in "${!cues[@]}"; do
            printf '%d\n%s --> %s\n%s\n\n' $((i + 1)) "$(ts $((i * 4)) .)" \
                "$(ts $((i * 4 + 4)) .)" "${cues[i]}"
        done
    } >"$out/video/lesson-1.vtt"
    {
        for i in "${!cues[@]}"; do
            printf '%d\r\n%s --> %s\r\n%s\r\n\r\n' $((i + 1)) "$(ts $((i * 4)) ,)" \
                "$(ts $((i * 4 + 4)) ,)" "${cues[i]}"
        done
    } >"$out/video/lesson-1.srt"

    # --- cover image -----------------------------------------------------------
    echo "images/cover.png"
    cover="nullsrc=s=400x560:d=1,format=rgb24,geq=r='30+40*lt(mod(X+Y,40),20)':g='90+60*Y/H':b='140+50*lt(mod(X-Y+560,40),20)'"
    cover+=",drawbox=x=30:y=150:w=340:h=200:color=white@0.85:t=fill"
    if [[ -n $font ]]; then
        cover+=",drawtext=fontfile='$font':text='English 7':fontsize=52:fontcolor=0x1b4965:x=(w-tw)/2:y=185"
        cover+=",drawtext=fontfile='$font':text='Demo Book':fontsize=30:fontcolor=0x2a6f97:x=(w-tw)/2:y=270"
    fi
    ff -f lavfi -i "$cover" "${BITEXACT[@]}" "${BITEXACT_V[@]}" -frames:v 1 \
        -c:v png -pix_fmt rgb24 -pred mixed "$out/images/cover.png"
}

# make_cover FILE TITLE SUBTITLE BACKGROUND(geq r:g:b) ACCENT(0xRRGGBB)
make_cover() {
    local file=$1 title=$2 subtitle=$3 geq=$4 accent=$5
    local src="nullsrc=s=400x560:d=1,format=rgb24,geq=$geq"
    src+=",drawbox=x=30:y=150:w=340:h=200:color=white@0.85:t=fill"
    if [[ -n $font ]]; then
        src+=",drawtext=fontfile='$font':text='$title':fontsize=52:fontcolor=$accent:x=(w-tw)/2:y=185"
        src+=",drawtext=fontfile='$font':text='$subtitle':fontsize=30:fontcolor=$accent:x=(w-tw)/2:y=270"
    fi
    mkdir -p "$(dirname "$file")"
    ff -f lavfi -i "$src" "${BITEXACT[@]}" "${BITEXACT_V[@]}" -frames:v 1 \
        -c:v png -pix_fmt rgb24 -pred mixed "$file"
}

# write_vtt FILE CUE... : one cue every 4 s
write_vtt() {
    local file=$1 i
    shift
    local cues=("$@")
    {
        printf 'WEBVTT\n\n'
        for i in "${!cues[@]}"; do
            printf '%d\n%s --> %s\n%s\n\n' $((i + 1)) "$(ts $((i * 4)) .)" \
                "$(ts $((i * 4 + 4)) .)" "${cues[i]}"
        done
    } >"$file"
}

ts() { # ts SECONDS SEPARATOR -> 00:00:SS<sep>000
    printf '%02d:%02d:%02d%s000' $(($1 / 3600)) $(($1 / 60 % 60)) $(($1 % 60)) "$2"
}

unite2() {
    local dir="$out/$unite2_dir" name notes i=0
    mkdir -p "$dir"
    # name|semitones: six short tunes, one note every 0.5 s, looping
    local tracks=(
        "01 Greetings.mp3|0 4 7 4 0 r 5 9 12 9 5 r"
        "02 Numbers.mp3|0 2 4 5 7 9 11 12 r 12 11 9 7 5 4 2 0 r"
        $'04 \xc5\x9eark\xc4\xb1.mp3|0 0 7 7 9 9 7 r 5 5 4 4 2 2 0 r'   # "04 Şarkı.mp3"
        "03 Colours.mp3|7 4 0 4 7 7 7 r 5 5 5 r 7 12 12 r"
        "05 My family.mp3|0 3 7 10 7 3 r 2 5 9 12 9 5 r"
        "06 Review.mp3|12 7 4 0 r 0 4 7 12 r"
    )
    for entry in "${tracks[@]}"; do
        name=${entry%%|*}
        notes=${entry#*|}
        echo "$unite2_dir/$name"
        ff -f lavfi -i "$(audio_src "$(melody $((220 + 20 * i)) 0.5 "$notes")" 16000)" "${BITEXACT[@]}" \
            -c:a libmp3lame -b:a 16k -ac 1 -ar 16000 -id3v2_version 0 -write_id3v1 0 \
            "$dir/$name"
        i=$((i + 1))
    done
    echo "$unite2_dir/02 Numbers.vtt, $unite2_dir/02 Numbers.tr.vtt"
    write_vtt "$dir/02 Numbers.vtt" \
        "Let's count from one to ten." "One, two, three." "Four, five, six." \
        "Seven, eight, nine, ten!" "Now count backwards." "Ten, nine, eight, seven." \
        "Six, five, four." "Three, two, one." "Well done!"
    write_vtt "$dir/02 Numbers.tr.vtt" \
        "Haydi birden ona kadar sayalım." "Bir, iki, üç." "Dört, beş, altı." \
        "Yedi, sekiz, dokuz, on!" "Şimdi geriye doğru sayın." "On, dokuz, sekiz, yedi." \
        "Altı, beş, dört." "Üç, iki, bir." "Aferin!"
}

subtitles() {
    echo "video/lesson-1.tr.vtt"
    mkdir -p "$out/video"
    write_vtt "$out/video/lesson-1.tr.vtt" \
        "İngilizce 7'ye hoş geldiniz. 1. Ders: Yeni İnsanlarla Tanışmak." \
        "Bugün kendimizi nasıl tanıtacağımızı öğreneceğiz." \
        "Dinleyin: \"Merhaba, benim adım Ayşe. Senin adın ne?\"" \
        "\"Selam, ben Tom. Tanıştığıma memnun oldum!\"" \
        "Şimdi benden sonra tekrarlayın: \"Ben de memnun oldum.\"" \
        "\"Nerelisin?\" \"İzmirliyim.\"" \
        "Arkadaşınıza hobileri hakkında üç soru sorun." \
        "Harika! Kendiniz hakkında beş cümle yazın." \
        "2. Derste görüşmek üzere. Hoşça kalın!"
}

covers() {
    echo "science-8/images/cover.png"
    make_cover "$demo/science-8/images/cover.png" "Science 8" "Light and Sound" \
        "r='20+30*lt(mod(X,32),16)':g='110+70*Y/H':b='80+40*lt(mod(Y,32),16)'" 0x1e6b3a
    echo "history-9/images/cover.png"
    make_cover "$demo/history-9/images/cover.png" "History 9" "Draft Edition" \
        "r='150+40*Y/H':g='90+30*lt(mod(X+Y,48),24)':b='50'" 0x7a3b12
}

for part in "${parts[@]}"; do
    case $part in
        english7 | unite2 | subtitles | covers) "$part" ;;
        *) echo "unknown part: $part (english7, unite2, subtitles, covers)" >&2; exit 2 ;;
    esac
done
du -sh "$demo"
