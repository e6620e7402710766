-- src/workflow/templates.sql: the built-in AI workflow templates.

INSERT INTO dwc.ai_workflow_templates (name, description, steps) VALUES
('content_generation', 'An outline, a draft written from it as a chain document, and its summary.',
 '[{"id": "outline", "type": "generate", "prompt": "Outline an article about {{input.topic}}."},
   {"id": "draft", "type": "generate", "after": ["outline"], "document": true,
    "prompt": "Write the article about {{input.topic}} following this outline: {{steps.outline.text}}"},
   {"id": "summary", "type": "summarize", "after": ["draft"], "sentences": 2}]'),
('summarization', 'A summary of the input text, and its analysis.',
 '[{"id": "summary", "type": "summarize", "sentences": 3},
   {"id": "analysis", "type": "analyze", "after": ["summary"]}]'),
('translation', 'The input text translated into input.language.',
 '[{"id": "translation", "type": "translate", "language": "{{input.language}}"}]'),
('classification', 'The input text classified as positive, negative or neutral (neutral when the answer names none).',
 '[{"id": "label", "type": "classify", "labels": ["positive", "negative", "neutral"], "fallback": "neutral"}]'),
('document_review', 'Extract a document''s title and issues, rate its risk, and ask a human when it is high.',
 '[{"id": "facts", "type": "extract", "fields": ["title", "issues"]},
   {"id": "risk", "type": "classify", "after": ["facts"], "labels": ["high", "low"], "fallback": "high"},
   {"id": "route", "type": "branch", "after": ["risk"], "if": {"path": "steps.risk.label", "eq": "high"},
    "then": ["review"], "else": ["accept"]},
   {"id": "review", "type": "approval", "after": ["route"], "message": "Review {{steps.facts.fields.title}}: {{steps.facts.fields.issues}}"},
   {"id": "accept", "type": "summarize", "after": ["route"], "text": "{{steps.facts.fields.issues}}", "sentences": 1}]');
