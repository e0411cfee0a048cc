"""Optional LLM-as-judge: a model grades the chain's reasoning against the truth summary (off by default)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, ValidationError

from agent.models.base import Message, Model, ToolSpec
from agent.report import Report
from evals.scorers import Truth
from prompts import render


class Grade(BaseModel):
    score: float = Field(ge=0, le=1, description="1 right for the right reasons, 0.5 partly, 0 wrong")
    rationale: str = Field(description="one or two sentences")


GRADE_TOOL = ToolSpec(name="grade", description="Submit the grade.", parameters=Grade.model_json_schema())


def judge(model: Model, truth: Truth, report: Report | None) -> dict[str, Any]:
    """{"judge_score", "judge_rationale"}; a judge that fails to grade leaves the score empty, not zero."""
    if report is None or report.inconclusive:
        return {"judge_score": 0.0 if report is None else None, "judge_rationale": "no chain to grade"}
    prompt = render("judge.j2", truth=f"{truth.service} / {truth.kind}: {truth.summary}",
                    chain=[f"{w.claim} [{', '.join(w.evidence)}]" for w in report.chain])
    for _ in range(2):
        turn = model.turn([Message(role="user", content=prompt)], [GRADE_TOOL])
        call = next((c for c in turn.tool_calls if c.name == "grade"), None)
        try:
            g = Grade.model_validate(call.arguments if call else {})
            return {"judge_score": g.score, "judge_rationale": g.rationale}
        except ValidationError as e:
            prompt += f"\n\nYour grade was not valid ({e.errors()[0]['msg']}); call `grade` again."
    return {"judge_score": None, "judge_rationale": "the judge did not return a valid grade"}
