"""Lock maintenance: the repositories the bot serves (`registry`), re-advised on their schedule
and when a new advisory concerns their locks (`schedule`)."""
