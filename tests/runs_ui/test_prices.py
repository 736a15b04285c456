"""The project's price list and default caps: shipped prices with their date, project prices
that win over them, admins only may change them, and the costs runs compute follow them."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from runs.models import ModelPrice, ProjectRunDefaults
from runs.pricing import price_list_for, shipped_price_list


def url(project):
    return reverse("runs:prices", args=[project.pk])


def test_the_page_lists_the_shipped_prices_with_their_date(web, project):
    html = web.get(url(project)).content.decode()
    assert shipped_price_list()["as_of"] in html
    assert "<code>gpt-4o-mini</code>" in html
    assert "Save price" in html  # the owner administers the project


def test_a_project_price_wins_and_prices_the_calls(web, project):
    response = web.post(
        url(project),
        {
            "action": "set",
            "model": "gpt-4o-mini",
            "input_per_million": "1",
            "output_per_million": "$2",
        },
    )
    assert response.status_code == 302
    prices = price_list_for(project.id)
    assert prices.cost("gpt-4o-mini-2024-07-18", 1_000_000, 500_000) == 2.0
    assert prices.cost("unknown-model", 10, 10) is None
    price = ModelPrice.objects.get(project=project)
    web.post(url(project), {"action": "delete", "price_id": price.id})
    assert not ModelPrice.objects.exists()
    shipped = shipped_price_list()["models"]["gpt-4o-mini"]
    assert price_list_for(project.id).cost("gpt-4o-mini", 1_000_000, 0) == shipped.input_per_million


def test_bad_prices_and_caps_are_form_errors_and_change_nothing(web, project):
    response = web.post(
        url(project),
        {"action": "set", "model": "", "input_per_million": "-1", "output_per_million": "x"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Name the model" in html and "A price in US dollars" in html
    response = web.post(url(project), {"action": "defaults", "max_cost": "lots"})
    assert response.status_code == 400
    assert not ModelPrice.objects.exists() and not ProjectRunDefaults.objects.exists()
    web.post(url(project), {"action": "defaults", "max_cost": "5", "max_agent_calls": "100"})
    defaults = ProjectRunDefaults.objects.get(project=project)
    assert (defaults.max_cost, defaults.max_agent_calls, defaults.max_tokens) == (5.0, 100, None)


def test_an_editor_cannot_change_prices(project, editor):
    client = Client()
    client.force_login(editor)
    assert "Save price" not in client.get(url(project)).content.decode()
    response = client.post(
        url(project),
        {"action": "set", "model": "m", "input_per_million": "1", "output_per_million": "1"},
    )
    assert response.status_code in (403, 404)
    assert not ModelPrice.objects.exists()
