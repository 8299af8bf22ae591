"""The answer stage: from retrieved passages to a reply of quoted, cited sentences, or an abstention.

A question passes through it in this order: ``intent`` reads it once (with ``patterns`` and
``names``); ``rank`` makes every sentence of the top passages a candidate; ``features``
measures each (the named ``checks`` among them); ``decide`` gives P(it answers) from the
trees fitted by ``qa train`` (``model/``); ``select`` picks what to quote; ``compose`` writes
the reply or abstains.
"""
