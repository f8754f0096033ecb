"""LSTM plugins that misbehave: a conformance run must survive each and name its fault."""
