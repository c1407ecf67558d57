"""Who may see whose presence (online / last seen): the one rule for the REST answer and the
live ``presence`` events.

A user's presence is shown to their friends only (a block ends a friendship, so blocked users
never qualify), and only while the user's ``show_activity_status`` is on. Users always see
their own.
"""

from __future__ import annotations

import uuid


def may_see_presence(
    viewer_id: uuid.UUID, subject_id: uuid.UUID, *, are_friends: bool, shows_activity: bool
) -> bool:
    if viewer_id == subject_id:
        return True
    return are_friends and shows_activity
