"""The demo agent over HTTP, served by the app itself (no session: it only answers from the
bundled public corpus). ``POST /demo-agent/answer`` with ``{"question": "..."}`` and an
optional ``"context"`` passage."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from evalsite import safe_json
from workflows.demo_agent import answer_question

MAX_BODY = 64 * 1024


@login_not_required
@csrf_exempt
@require_POST
def demo_agent_endpoint(request):
    if len(request.body) > MAX_BODY:
        return JsonResponse({"error": "The request body is too large."}, status=413)
    try:
        data = safe_json.loads(request.body or b"{}")
    except safe_json.UnsafeJSON as exc:  # too deep, NUL, lone surrogates
        return JsonResponse({"error": exc.message}, status=400)
    except (ValueError, UnicodeDecodeError):
        return JsonResponse({"error": "The body must be JSON."}, status=400)
    question = data.get("question") if isinstance(data, dict) else None
    if not isinstance(question, str) or not question.strip():
        return JsonResponse({"error": "Give a non-empty string 'question'."}, status=400)
    context = data.get("context")
    if context is not None and not isinstance(context, str):
        return JsonResponse({"error": "'context', when given, must be a string."}, status=400)
    result = answer_question(question=question, context=context)
    return JsonResponse(
        {
            "answer": result["answer"],
            "chunks": result["chunks"],
            "usage": {
                "input_tokens": result["input_tokens"],
                "output_tokens": result["output_tokens"],
            },
            "spans": result["spans"],
        }
    )
