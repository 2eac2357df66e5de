"""/api/v1/budgets: this month's budgets of a workspace, with what is spent and held."""
from __future__ import annotations

from marshmallow import Schema, fields

from controllers.blueprint import Blueprint
from controllers.deps import use_cases
from controllers.security import authenticated, current_actor
from entities.budget import SpendScope

blp = Blueprint("budgets", __name__, url_prefix="/api/v1/budgets",
                description="Monthly budgets: workspace, API keys and members")


class BudgetQuerySchema(Schema):
    workspace_id = fields.String(required=True)


class BudgetStatusSchema(Schema):
    scope = fields.Enum(SpendScope, by_value=True, required=True)
    id = fields.String(required=True, metadata={
        "description": "The workspace, API key or member (user) id"})
    budget_usd = fields.Float(allow_none=True, required=True)
    spent_usd = fields.Float(required=True, metadata={"description": "Settled this month"})
    reserved_usd = fields.Float(required=True, metadata={
        "description": "Held by calls in flight (their worst case, until they end)"})
    month = fields.String(required=True, metadata={"example": "2026-11"})


@blp.get("")
@authenticated
@blp.arguments(BudgetQuerySchema, location="query")
@blp.response(200, BudgetStatusSchema(many=True))
def list_budgets(query):
    """This month's budgets of a workspace

    Workspace admins and owners. 200 `[{scope, id, budget_usd, spent_usd, reserved_usd, month}]`:
    the workspace (budget_usd null when it has none), each API key and each member with a budget.
    Amounts in USD; `month` is the calendar month (UTC) they count.

    403 for a role too low; 404 for a workspace the caller is not a member of."""
    return use_cases().budget.list(current_actor(), query["workspace_id"])
