"""German templates (``string.Template``: ``$name`` placeholders, no logic). Formal address."""

from __future__ import annotations

STRINGS: dict[str, str] = {
    # Titles
    "title.credit": "Zu Ihrem Kreditantrag",
    "title.hiring": "Zu Ihrer Bewerbung",
    "title.health": "Modellschätzung zur klinischen Prüfung",
    "title.general": "Zu diesem Ergebnis",
    "title.analyst": "Erklärung von $model $version (Analyseansicht)",
    "title.audit": "Erklärungsprotokoll von $model $version (Prüfansicht)",
    # Leads
    "lead.credit.adverse": "Ein automatisiertes Kreditbewertungsmodell hat Ihren Antrag "
    "bewertet. Das Ergebnis fiel nicht zu Ihren Gunsten aus: $outcome.",
    "lead.credit.favorable": "Ein automatisiertes Kreditbewertungsmodell hat Ihren Antrag "
    "bewertet. Das Ergebnis: $outcome.",
    "lead.hiring.adverse": "Ein automatisiertes Auswahlwerkzeug hat Ihre Bewerbung bewertet. "
    "Das Ergebnis fiel nicht zu Ihren Gunsten aus: $outcome.",
    "lead.hiring.favorable": "Ein automatisiertes Auswahlwerkzeug hat Ihre Bewerbung bewertet. "
    "Das Ergebnis: $outcome.",
    "lead.health.classification": "Schätzung des Modells: $outcome, mit einer "
    "Wahrscheinlichkeit von $probability.",
    "lead.health.regression": "Schätzung des Modells: $value. Im Durchschnitt der "
    "Referenzpopulation liegt die Schätzung bei $base.",
    "lead.general.adverse": "Ein automatisiertes Modell hat diesen Fall bewertet. "
    "Das Ergebnis fiel nicht zu Ihren Gunsten aus: $outcome.",
    "lead.general.favorable": "Ein automatisiertes Modell hat diesen Fall bewertet. "
    "Das Ergebnis: $outcome.",
    "lead.general.neutral": "Ein automatisiertes Modell hat diesen Fall bewertet. "
    "Das Ergebnis: $outcome.",
    "lead.general.regression": "Schätzung des Modells: $value. Im Durchschnitt der "
    "Referenzpopulation liegt die Schätzung bei $base.",
    # Leads, wenn eine Person den Fall prüft: vorher wird kein Ergebnis verkündet.
    "lead.credit.review": "Ein automatisiertes Kreditbewertungsmodell hat Ihren Antrag "
    "bewertet. Eine Entscheidung ist noch nicht gefallen.",
    "lead.hiring.review": "Ein automatisiertes Auswahlwerkzeug hat Ihre Bewerbung bewertet. "
    "Eine Entscheidung ist noch nicht gefallen.",
    "lead.general.review": "Ein automatisiertes Modell hat diesen Fall bewertet. "
    "Eine Entscheidung ist noch nicht gefallen.",
    "lead.analyst.classification": "Vorhergesagte Klasse: $label (Wahrscheinlichkeit "
    "$probability). Erklärte Ausgabe: $target, Raum $space, $output gegenüber dem "
    "Basiswert $base.",
    "lead.analyst.regression": "Vorhergesagter Wert: $value. Erklärte Ausgabe: Raum $space, "
    "$output gegenüber dem Basiswert $base (Mittelwert der Referenzdaten).",
    # Reasons
    "reasons.heading.credit.adverse": "Hauptgründe für dieses Ergebnis",
    "reasons.heading.health": "Eingaben mit dem größten Einfluss auf diese Schätzung",
    "reasons.heading.general": "Wichtigste Faktoren für dieses Ergebnis",
    "reasons.none": "Kein einzelner Faktor stach bei diesem Ergebnis heraus.",
    "reason.with_value": "$text (Wert: $value)",
    "reason.generic.raises": "$label: hat den Modellwert für $reference erhöht",
    "reason.generic.lowers": "$label: hat den Modellwert für $reference gesenkt",
    "reason.generic.regression.raises": "$label: hat die Schätzung erhöht",
    "reason.generic.regression.lowers": "$label: hat die Schätzung gesenkt",
    # Review
    "review.heading": "Eine Person prüft dieses Ergebnis",
    "review.end_user": "Das System ist sich bei seiner Bewertung nicht sicher genug, um sie "
    "automatisch zu erklären. Eine Person prüft Ihren Fall, bevor eine Entscheidung fällt.",
    "review.end_user.health": "Die Konfidenz ist gering oder eine Qualitätsprüfung der "
    "Erklärung ist fehlgeschlagen. Prüfen Sie diesen Fall, ohne sich auf die Erklärung des "
    "Modells zu stützen.",
    # Confidence
    "confidence.heading": "Wie sicher das System ist",
    "confidence.high": "Das System ist sich bei diesem Ergebnis sicher.",
    "confidence.moderate": "Das System ist sich bei diesem Ergebnis recht sicher.",
    "confidence.low": "Das System ist sich bei diesem Ergebnis nicht sicher.",
    "confidence.not_rated": "Für diese Schätzung ist keine kalibrierte Konfidenz verfügbar.",
    "confidence.basis.default": "Standardschwellen (hoch ab $high, mittel ab $moderate) auf "
    "der eigenen Wahrscheinlichkeit des Modells, nicht für dieses Modell kalibriert",
    "confidence.basis.regression": "ein Regressionsmodell liefert keine kalibrierte Unsicherheit",
    "bucket.high": "hoch",
    "bucket.moderate": "mittel",
    "bucket.low": "gering",
    "bucket.not_rated": "nicht bewertet",
    # Counterfactuals
    "cf.heading": "Was das Ergebnis ändern könnte",
    "cf.change": "$label: $new (derzeit $old)",
    "cf.item": "$changes. Voraussichtliches Ergebnis: $outcome.",
    "cf.note": "Diese Möglichkeiten beruhen allein auf dem Modell. Sie garantieren keine "
    "andere Entscheidung: Weitere Angaben und Richtlinien spielen ebenfalls eine Rolle.",
    "cf.none.already_favorable": "Das Ergebnis ist bereits $outcome; daher wird keine "
    "Änderung gezeigt.",
    "cf.none.no_actionable_features": "Keine Eingabe dieses Modells ist als veränderbar "
    "gekennzeichnet; daher werden keine Möglichkeiten gezeigt.",
    "cf.none.none_found": "Wir haben keine Änderung der Faktoren, die Sie beeinflussen können, "
    "innerhalb üblicher Werte gefunden, die dieses Ergebnis ändern würde.",
    "cf.none.regression": "Möglichkeiten, die das Ergebnis ändern würden, werden nur für "
    "Klassifikationsmodelle berechnet.",
    "cf.analyst": "$changes: $outcome (Wahrscheinlichkeit $probability), Kosten $cost",
    # Inputs
    "inputs.heading": "Eingaben hinter dieser Schätzung",
    "inputs.note": "Typischer Bereich: die mittleren 80 % der Referenzpopulation. Prüfen Sie "
    "diese Eingaben unabhängig, bevor Sie sich auf die Schätzung stützen.",
    "inputs.col.input": "Eingabe",
    "inputs.col.value": "Wert",
    "inputs.col.typical": "Typischer Bereich",
    "inputs.col.effect": "Einfluss auf die Schätzung",
    "effect.raised": "erhöht",
    "effect.lowered": "gesenkt",
    "effect.little": "kaum Einfluss",
    # Scope and rights
    "scope": "Diese Faktoren erklären nur dieses eine Ergebnis. Das Modell bringt sie mit dem "
    "Ergebnis in Verbindung; sie sind nicht unbedingt seine Ursachen und beschreiben nicht, "
    "wie das Modell alle Personen behandelt.",
    "scope.review": "Die Person, die Ihren Fall prüft, betrachtet ihn als Ganzes, nicht nur "
    "die Bewertung des Modells. Sie können sie fragen, welche Angaben über Sie verwendet "
    "wurden.",
    "scope.review.health": "Es werden keine Faktoren gezeigt, weil die Erklärung dieser "
    "Schätzung ihre Prüfungen nicht bestanden hat.",
    "rights.heading": "Ihre Möglichkeiten",
    "rights.heading.health": "Verwendung dieser Schätzung",
    "rights.credit": "Sie können verlangen, dass eine Person diese Entscheidung überprüft, "
    "Ihren Standpunkt darlegen und die Entscheidung anfechten. Falls Angaben über Sie falsch "
    "waren, können Sie sie berichtigen lassen.",
    "rights.credit.US": "Sie können verlangen, dass eine Person diese Entscheidung überprüft, "
    "Ihren Standpunkt darlegen und die Entscheidung anfechten. Falls Angaben über Sie falsch "
    "waren, können Sie sie berichtigen lassen. Wurde eine Kreditauskunft verwendet, erhalten "
    "Sie innerhalb von 60 Tagen eine kostenlose Kopie von der Auskunftei, die sie geliefert "
    "hat, und können unrichtige Angaben bestreiten.",
    "rights.credit.EU": "Sie können verlangen, dass eine Person diese Entscheidung überprüft, "
    "Ihren Standpunkt darlegen und die Entscheidung anfechten (Art. 22 DSGVO). Sie können "
    "Auskunft darüber verlangen, welche personenbezogenen Daten verwendet wurden, und "
    "aussagekräftige Informationen darüber, wie die Entscheidung zustande kam (Art. 15 "
    "DSGVO), und falsche Angaben berichtigen lassen. Sie können sich außerdem bei einer "
    "Datenschutzaufsichtsbehörde beschweren.",
    "rights.credit.DE": "Sie können verlangen, dass eine Person diese Entscheidung überprüft, "
    "Ihren Standpunkt darlegen und die Entscheidung anfechten (Art. 22 DSGVO). Sie können "
    "Auskunft darüber verlangen, welche personenbezogenen Daten verwendet wurden, und "
    "aussagekräftige Informationen darüber, wie die Entscheidung zustande kam (Art. 15 "
    "DSGVO), und falsche Angaben berichtigen lassen. Wurde ein Score einer Auskunftei (etwa "
    "der SCHUFA) verwendet, können Sie von der Auskunftei nach der DSGVO und dem "
    "Bundesdatenschutzgesetz (BDSG) erfahren, welche Daten sie über Sie speichert und wie "
    "der Score zustande kam. Sie können sich bei der Datenschutzaufsichtsbehörde Ihres "
    "Bundeslandes beschweren.",
    "rights.hiring": "Sie können verlangen, dass eine Person dieses Ergebnis überprüft, und "
    "um ein alternatives Auswahlverfahren oder angemessene Vorkehrungen bitten. Sie können "
    "außerdem erfragen, welche Daten verwendet wurden und wie lange sie gespeichert werden.",
    "rights.health": "Diese Schätzung unterstützt die klinische Beurteilung und ersetzt sie nicht.",
    "rights.general": "Sie können verlangen, dass eine Person dieses Ergebnis überprüft und "
    "falsche Angaben berichtigt werden.",
    "rights.general.EU": "Sie können verlangen, dass eine Person dieses Ergebnis überprüft, "
    "und es anfechten (Art. 22 DSGVO), Auskunft darüber verlangen, welche personenbezogenen "
    "Daten wie verwendet wurden (Art. 15 DSGVO), und falsche Angaben berichtigen lassen.",
    # Chart
    "chart.title": "Wie stark jeder Faktor gewirkt hat",
    "chart.alt": "Balkendiagramm der $n wichtigsten Faktoren. $top hat am stärksten in "
    "Richtung dieses Ergebnisses gewirkt.",
    "chart.alt.regression": "Balkendiagramm der $n wichtigsten Faktoren. $top hat die "
    "Schätzung am stärksten beeinflusst.",
    "chart.toward": "In Richtung dieses Ergebnisses",
    "chart.against": "Gegen dieses Ergebnis",
    "chart.toward.regression": "Hat die Schätzung erhöht",
    "chart.against.regression": "Hat die Schätzung gesenkt",
    "chart.table_caption": "Die Daten des Diagramms",
    "chart.col.factor": "Faktor",
    "chart.col.effect": "Wirkung",
    "chart.col.value": "Beitrag",
    "bar.toward": "wirkte in Richtung dieses Ergebnisses",
    "bar.against": "wirkte gegen dieses Ergebnis",
    "bar.toward.regression": "hat die Schätzung erhöht",
    "bar.against.regression": "hat die Schätzung gesenkt",
    # Values
    "value.yes": "ja",
    "value.no": "nein",
    "value.missing": "nicht angegeben",
    "probability.about": "etwa $pct",
    "probability.under": "unter $pct",
    "probability.over": "über $pct",
    # Analyst and audit
    "analyst.reasons.heading": "Hauptgründe (in Richtung $outcome)",
    "analyst.reasons.heading.regression": "Hauptgründe (größte Beiträge)",
    "analyst.reason": "$code: $text [$detail]",
    "analyst.flag.proxy": "markiert: Stellvertreter für $attributes",
    "analyst.flagged": "Zur Prüfung markiert: $features.",
    "analyst.proxy_of": "Stellvertreter für $attributes",
    "analyst.review": "Prüfung erforderlich: $why.",
    "analyst.confidence": "Konfidenz: $bucket (Wahrscheinlichkeit der vorhergesagten Klasse "
    "$probability). Grundlage: $basis.",
    "analyst.confidence.regression": "Konfidenz: $bucket. Grundlage: $basis.",
    "analyst.quality.heading": "Qualitätsprüfungen",
    "analyst.gate": "$name = $value (Grenze $op $limit): $status",
    "analyst.gate.none": "Diese Erklärung meldet keine Qualitätswerte zur Prüfung.",
    "gate.passed": "bestanden",
    "gate.failed": "nicht bestanden",
    "why.low_confidence": "geringe Konfidenz",
    "why.additivity_residual": "Additivitätsrest",
    "why.fidelity_r2": "LIME-Treue",
    "why.local_prediction_error": "lokaler Vorhersagefehler von LIME",
    "why.sampling_error": "Stichprobenfehler",
    "space.probability": "Wahrscheinlichkeit",
    "space.raw": "Rohwert (Marge)",
    "audit.screening.heading": "Prüfung auf geschützte Merkmale",
    "audit.suppressed": "Aus den Gründen herausgehaltene geschützte Merkmale: $features.",
    "audit.suppressed.none": "Kein geschütztes Merkmal wäre unter den Gründen gewesen.",
    "audit.protected": "Beitrag jedes geschützten Merkmals in Richtung des Ergebnisses: $features.",
    "audit.codes.heading": "Begründungscodes und Rohbeiträge",
    "audit.col.code": "Code",
    "audit.col.features": "Merkmale",
    "audit.col.contribution": "In Richtung des Ergebnisses",
    "audit.col.raw": "Rohe Attributionen (in Richtung des Ziels)",
    "audit.record.heading": "Protokoll",
    "audit.record": "Vorlagenversion $version, Sprache $locale, Ansicht $persona. "
    "Ausgaberaum $space; erklärtes Ziel $target; höchstens $max_reasons Gründe.",
    "list.and": "und",
}
