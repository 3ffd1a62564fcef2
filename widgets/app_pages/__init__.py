"""The workspace's file pages (run by ``widgets/app.py`` through ``st.navigation``)."""
