"""Time limits that fit a person at a player: the defaults of the settings of the same
names (lms/settings.py) and of the nginx template's values (deploy/render.py).

A seek that waits 30 s has failed: a DCS that says nothing for DCS_READ_TIMEOUT
seconds, before its response head (504) or in the middle of a body (the
client's connection is cut), is given up on. Whole seconds: nginx reads them too.
"""

DCS_CONNECT_TIMEOUT = 3  # seconds to open a connection to DCS or its object store
DCS_READ_TIMEOUT = 10  # seconds DCS may stay silent
MEDIA_SEND_TIMEOUT = 60  # seconds a player may accept no byte before its stream is cut
