"""The notes site's views: a list and a search (JSON), a note's page (a template), and
writing a note (JSON in, JSON out)."""

import json

from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from .models import Note

PAGE_SIZE = 20


@csrf_exempt
def notes(request):
    if request.method == "POST":
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return JsonResponse({"error": "send JSON"}, status=400)
        title, text = body.get("title"), body.get("body")
        if not isinstance(title, str) or not isinstance(text, str) or not title or len(title) > 200:
            return JsonResponse({"error": "send {\"title\": ..., \"body\": ...}"}, status=400)
        note = Note.objects.create(title=title, body=text, tags=body.get("tags", ""),
                                   created=timezone.now())
        return JsonResponse({"note": note.id}, status=201)
    if request.method != "GET":
        return JsonResponse({"error": "GET or POST"}, status=405)
    tag = request.GET.get("tag")
    found = Note.objects.order_by("-created")
    if tag:
        found = found.filter(tags=tag)
    return JsonResponse({"notes": list(found.values("id", "title", "tags")[:PAGE_SIZE])})


def search(request):
    term = request.GET.get("q", "")
    if not 2 <= len(term) <= 40:
        return JsonResponse({"error": "q must be 2 to 40 characters"}, status=400)
    found = Note.objects.filter(body__icontains=term).order_by("id").values("id", "title")[:20]
    return JsonResponse({"results": list(found)})


def note(request, note_id):
    try:
        found = Note.objects.get(id=note_id)
    except Note.DoesNotExist:
        raise Http404("no such note") from None
    return render(request, "notes/note.html", {"note": found})
