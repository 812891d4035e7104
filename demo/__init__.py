"""The hosted Gradio demo: layout and event wiring around vasa_core's pipeline and safety's verifier.

``demo.ui.build_demo`` builds it, ``app.py`` launches it; nothing here is imported by vasa_core or safety.
"""
