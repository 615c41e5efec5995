from django.urls import path

from books import views

app_name = "books"

urlpatterns = [
    path("", views.home, name="home"),
    path("books/", views.book_list, name="book-list"),
    path("books/<uuid:book_id>/", views.book_detail, name="book-detail"),
    path("books/<uuid:book_id>/cover", views.cover, name="book-cover"),
]
