"""Cross-server engines: asking other servers and answering them, over a transport."""
