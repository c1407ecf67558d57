"""HTTP endpoints of bookmarks."""

from __future__ import annotations

from fastapi import APIRouter

from townsquare.kit.errors import problem_responses
from townsquare.kit.web import UnitOfWorkRoute

router = APIRouter(
    route_class=UnitOfWorkRoute, tags=["bookmarks"], responses=problem_responses(401, 404, 422)
)
