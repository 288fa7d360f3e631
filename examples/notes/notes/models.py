from django.db import models


class Note(models.Model):
    """A note; the table is made by the lab from schema.sql (unmanaged here)."""

    title = models.TextField()
    body = models.TextField()
    tags = models.TextField()
    created = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "notes_note"
