"""The Streamlit page's parts beside app.py. What it computes, tested without Streamlit:

  state   what a link restores (the view), and the owner key that grants control (never in a link)
  runs    finding runs, naming new ones, uploads and bundle zips
  jobs    trainings, each in a process of its own, limited and queued server-wide
  server  the server process's own settings: one BLAS thread, malloc that returns freed arrays

and the widgets of the sidebar's sharing (share) and of three sections: Train now (train_now, the
one with state of its own), Why they differ (why) and Analysis (analysis).
"""
