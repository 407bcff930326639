"""Digest subscriptions: an email receives the alerts of a network after each load
(analyst role for every route: the list holds email addresses)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from api import schemas
from api.deps import AnalystDep, SessionDep
from api.docs import doc
from api.responses import json_response
from core.services import digests as digest_service

router = APIRouter(tags=["subscriptions"])
SubscriptionId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Subscription id")]


@router.post("/subscriptions", status_code=201, summary="Subscribe to digests (analyst)",
             responses=doc(schemas.SubscriptionRow, errors=(401, 403, 404, 422), status=201,
                           description="Created"))
def create_subscription(session: SessionDep, caller: AnalystDep, body: schemas.SubscriptionIn):
    """After each load that raises alerts below ``network``, one email digest to ``email``
    (only ``kinds``, when given)."""
    item = digest_service.create_subscription(session, email=body.email, network=body.network,
                                              kinds=body.kinds, created_by=caller.name)
    session.commit()
    return json_response(item, status_code=201)


@router.get("/subscriptions", summary="List subscriptions (analyst)",
            responses=doc(schemas.SubscriptionList, errors=(401, 403)))
def list_subscriptions(session: SessionDep, _caller: AnalystDep):
    """Every subscription."""
    return json_response({"items": digest_service.list_subscriptions(session)})


@router.delete("/subscriptions/{subscription_id}", status_code=204,
               summary="Remove a subscription (analyst)",
               responses=doc(None, errors=(401, 403, 404, 422), status=204,
                             description="Deleted"))
def delete_subscription(session: SessionDep, _caller: AnalystDep,
                        subscription_id: SubscriptionId):
    """Stop the digests of one subscription."""
    digest_service.delete_subscription(session, subscription_id)
    session.commit()
    return Response(status_code=204)
