"""The read side of every screen, one module per screen: the typed Redis reads and the pure shaping that both the
screen's Dash callbacks and its HTTP endpoints and exports call, so that a page and its export cannot disagree.

A view reads through signs.store (and alerts.store, feeds.board), decides with signs.drill and the domain's rules,
and returns dataclasses, plain rows and signs.export tables. It never imports Dash: layouts/ turns what it returns
into components, callbacks/ and api/ only parse their inputs, call a view and hand its answer on.
"""
