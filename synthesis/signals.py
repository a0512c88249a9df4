"""What synthesis announces, so the apps above it can react without synthesis calling them.

Synthesis reads and writes ``listening``'s clip rows but calls no listening service: a study's
status is the studies lifecycle's business. ``listening.apps`` connects
``listening.studies.lifecycle.clips_changed_received`` to :data:`clips_changed`.
"""

from django.dispatch import Signal

#: Sent after clips of a study changed state (claimed, ready, failed) and the change is saved,
#: with ``study`` (the Study whose clips they are). Receivers run in the sender's process.
clips_changed = Signal()
