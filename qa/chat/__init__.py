"""The chat: a Gradio app over ``ask()``, its HTML, uploads into the index, follow-ups, the JSON API."""
