"""The hosting runtime: a few runner processes (thespian actors) host many lightweight actors each.

See docs/design.md, "Runners": a hosted actor is a plain object with its own mailbox, addressed by a Ref;
between actors of one runner a message is an in-process call, between runners a thespian message.
"""
