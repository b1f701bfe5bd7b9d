"""A minimal Django project for the ``RunLogsMixin`` tests (settings, models, views, urls)."""
