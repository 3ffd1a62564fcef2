"""English templates (``string.Template``: ``$name`` placeholders, no logic)."""

from __future__ import annotations

STRINGS: dict[str, str] = {
    # Titles
    "title.credit": "About your credit application",
    "title.hiring": "About your job application",
    "title.health": "Model estimate for clinical review",
    "title.general": "About this result",
    "title.analyst": "Explanation of $model $version (analyst view)",
    "title.audit": "Explanation record of $model $version (audit view)",
    # Leads: the outcome in one sentence
    "lead.credit.adverse": "An automated credit-scoring model assessed your application. "
    "Its result was not in your favour: $outcome.",
    "lead.credit.favorable": "An automated credit-scoring model assessed your application. "
    "Its result: $outcome.",
    "lead.hiring.adverse": "An automated screening tool assessed your application. "
    "Its result was not in your favour: $outcome.",
    "lead.hiring.favorable": "An automated screening tool assessed your application. "
    "Its result: $outcome.",
    "lead.health.classification": "The model's estimate: $outcome, with a probability of "
    "$probability.",
    "lead.health.regression": "The model's estimate: $value. The average estimate over the "
    "reference population is $base.",
    "lead.general.adverse": "An automated model assessed this case. "
    "Its result was not in your favour: $outcome.",
    "lead.general.favorable": "An automated model assessed this case. Its result: $outcome.",
    "lead.general.neutral": "An automated model assessed this case. Its result: $outcome.",
    "lead.general.regression": "The model's estimate: $value. The average estimate over the "
    "reference population is $base.",
    # Leads when a person reviews the case: no outcome is announced before that review.
    "lead.credit.review": "An automated credit-scoring model assessed your application. "
    "No decision has been made yet.",
    "lead.hiring.review": "An automated screening tool assessed your application. "
    "No decision has been made yet.",
    "lead.general.review": "An automated model assessed this case. No decision has been made yet.",
    "lead.analyst.classification": "Predicted class: $label (probability $probability). "
    "Explained output: $target, $space space, $output against a base value of $base.",
    "lead.analyst.regression": "Predicted value: $value. Explained output: $space space, "
    "$output against a base value of $base (the background mean).",
    # Reasons
    "reasons.heading.credit.adverse": "Principal reasons for this result",
    "reasons.heading.health": "Inputs that moved this estimate most",
    "reasons.heading.general": "Main factors behind this result",
    "reasons.none": "No single factor stood out in this result.",
    "reason.with_value": "$text (value: $value)",
    "reason.generic.raises": "$label: raised the model's score for $reference",
    "reason.generic.lowers": "$label: lowered the model's score for $reference",
    "reason.generic.regression.raises": "$label: raised the estimate",
    "reason.generic.regression.lowers": "$label: lowered the estimate",
    # Review instead of a confident list
    "review.heading": "A person will review this",
    "review.end_user": "The system is not sure enough about its assessment to explain it "
    "automatically. A person will review your case before a decision is made.",
    "review.end_user.health": "Confidence is low or an explanation-quality check failed. "
    "Review this case without relying on the model's explanation.",
    # Confidence
    "confidence.heading": "How sure the system is",
    "confidence.high": "The system is confident in this result.",
    "confidence.moderate": "The system is fairly confident in this result.",
    "confidence.low": "The system is not confident in this result.",
    "confidence.not_rated": "No calibrated confidence is available for this estimate.",
    "confidence.basis.default": "default thresholds (high from $high, moderate from "
    "$moderate) on the model's own probability, not calibrated for this model",
    "confidence.basis.regression": "a regression model reports no calibrated uncertainty",
    "bucket.high": "high",
    "bucket.moderate": "moderate",
    "bucket.low": "low",
    "bucket.not_rated": "not rated",
    # Counterfactuals
    "cf.heading": "What could change this",
    "cf.change": "$label: $new (now $old)",
    "cf.item": "$changes. Likely result: $outcome.",
    "cf.note": "These options come from the model alone. They are not a guarantee of a "
    "different decision: other information and policies also apply.",
    "cf.none.already_favorable": "The result is already $outcome, so no change is shown.",
    "cf.none.no_actionable_features": "None of this model's inputs is marked as something a "
    "person can change, so no options are shown.",
    "cf.none.none_found": "We found no change to the factors you can influence, within usual "
    "values, that would change this result.",
    "cf.none.regression": "Options that would change the result are computed for "
    "classification models only.",
    "cf.analyst": "$changes: $outcome (probability $probability), cost $cost",
    # Inputs behind a clinical estimate
    "inputs.heading": "Inputs behind this estimate",
    "inputs.note": "Typical range: the middle 80% of the reference population. Check these "
    "inputs independently before relying on the estimate.",
    "inputs.col.input": "Input",
    "inputs.col.value": "Value",
    "inputs.col.typical": "Typical range",
    "inputs.col.effect": "Effect on the estimate",
    "effect.raised": "raised it",
    "effect.lowered": "lowered it",
    "effect.little": "little effect",
    # Scope and rights
    "scope": "These factors explain this one result. They are factors the model associated "
    "with it, not necessarily its causes, and they do not describe how the model treats "
    "everyone.",
    "scope.review": "The person reviewing your case looks at it as a whole, not only at the "
    "model's assessment. You can ask them which information about you was used.",
    "scope.review.health": "No factors are shown because the model's explanation of this "
    "estimate did not pass its checks.",
    "rights.heading": "Your options",
    "rights.heading.health": "Use of this estimate",
    # Rights: rights.<domain>.<jurisdiction>, then the EU's for a member state, then
    # rights.<domain> (no jurisdiction-specific law named).
    "rights.credit": "You can ask for a person to review this decision, give your point of "
    "view and contest it. If information about you was wrong, you can have it corrected.",
    "rights.credit.US": "You can ask for a person to review this decision, give your point of "
    "view and contest it. If information about you was wrong, you can have it corrected. If "
    "a credit report was used, you can get a free copy from the agency that supplied it "
    "within 60 days and dispute anything inaccurate.",
    "rights.credit.EU": "You can ask for a person to review this decision, give your point of "
    "view and contest it (GDPR Article 22). You can ask which personal data were used and "
    "for meaningful information about how the decision was reached (GDPR Article 15), and "
    "have wrong information corrected. You can also complain to a data protection authority.",
    "rights.credit.DE": "You can ask for a person to review this decision, give your point of "
    "view and contest it (GDPR Article 22). You can ask which personal data were used and "
    "for meaningful information about how the decision was reached (GDPR Article 15), and "
    "have wrong information corrected. If a credit agency's score (such as SCHUFA's) was "
    "used, you can ask the agency for the data it holds about you and how the score was "
    "formed, under the GDPR and the German Federal Data Protection Act (BDSG). You can "
    "complain to the data protection authority of your federal state.",
    "rights.hiring": "You can ask for a person to review this result, and for an alternative "
    "selection process or a reasonable accommodation. You can also ask what data was used "
    "and how long it is kept.",
    "rights.health": "This estimate supports clinical judgement and does not replace it.",
    "rights.general": "You can ask for a person to review this result, and for wrong "
    "information to be corrected.",
    "rights.general.EU": "You can ask for a person to review this result and contest it "
    "(GDPR Article 22), ask which personal data were used and how (GDPR Article 15), and "
    "have wrong information corrected.",
    # Chart
    "chart.title": "How much each factor mattered",
    "chart.alt": "Bar chart of the $n factors that mattered most. $top pushed most toward "
    "this result.",
    "chart.alt.regression": "Bar chart of the $n factors that mattered most. $top moved the "
    "estimate most.",
    "chart.toward": "Toward this result",
    "chart.against": "Against this result",
    "chart.toward.regression": "Raised the estimate",
    "chart.against.regression": "Lowered the estimate",
    "chart.table_caption": "The chart's data",
    "chart.col.factor": "Factor",
    "chart.col.effect": "Effect",
    "chart.col.value": "Contribution",
    "bar.toward": "pushed toward this result",
    "bar.against": "pushed against this result",
    "bar.toward.regression": "raised the estimate",
    "bar.against.regression": "lowered the estimate",
    # Values
    "value.yes": "yes",
    "value.no": "no",
    "value.missing": "not given",
    "probability.about": "about $pct",
    "probability.under": "under $pct",
    "probability.over": "over $pct",
    # Analyst and audit
    "analyst.reasons.heading": "Principal reasons (toward $outcome)",
    "analyst.reasons.heading.regression": "Principal reasons (largest contributions)",
    "analyst.reason": "$code: $text [$detail]",
    "analyst.flag.proxy": "flagged: proxy for $attributes",
    "analyst.flagged": "Flagged for review: $features.",
    "analyst.proxy_of": "proxy for $attributes",
    "analyst.review": "Review required: $why.",
    "analyst.confidence": "Confidence: $bucket (predicted-class probability $probability). "
    "Basis: $basis.",
    "analyst.confidence.regression": "Confidence: $bucket. Basis: $basis.",
    "analyst.quality.heading": "Quality gates",
    "analyst.gate": "$name = $value (limit $op $limit): $status",
    "analyst.gate.none": "This explanation reports no quality numbers to gate.",
    "gate.passed": "passed",
    "gate.failed": "failed",
    "why.low_confidence": "low confidence",
    "why.additivity_residual": "additivity residual",
    "why.fidelity_r2": "LIME fidelity",
    "why.local_prediction_error": "LIME local prediction error",
    "why.sampling_error": "sampling error",
    "space.probability": "probability",
    "space.raw": "raw (margin)",
    "audit.screening.heading": "Screening",
    "audit.suppressed": "Protected features kept out of the reasons: $features.",
    "audit.suppressed.none": "No protected feature would have ranked among the reasons.",
    "audit.protected": "Contribution of each protected feature toward the outcome: $features.",
    "audit.codes.heading": "Reason codes and raw contributions",
    "audit.col.code": "Code",
    "audit.col.features": "Features",
    "audit.col.contribution": "Toward the outcome",
    "audit.col.raw": "Raw attributions (toward the target)",
    "audit.record.heading": "Record",
    "audit.record": "Template version $version, locale $locale, persona $persona. Output space "
    "$space; explained target $target; reasons at most $max_reasons.",
    "list.and": "and",
}
