from django.urls import path
from notes import views

urlpatterns = [
    path("notes/", views.notes),
    path("notes/search", views.search),
    path("notes/<int:note_id>/", views.note),
]
