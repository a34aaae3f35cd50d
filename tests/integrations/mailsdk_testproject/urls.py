"""URLs of the Django test project."""

from django.urls import path

from mailsdk_testproject import views

urlpatterns = [path("signup/", views.signup)]
