"""A restore cut short (`kill -9`, a power cut) is finished by the next command, before it does
anything else: the copies of the services' folders go back, and the release that was live
with them (`cfgroll.capabilities.volumes` keeps the journal that says so)."""

from __future__ import annotations

from cfgroll.context import Context


def resume(ctx: Context) -> str | None:
    """Finish a restore that a run left unfinished, if there is one and no cfgroll is still
    at it (the store's lock is free); what was done, in one line. `PutBackFailed` (the journal
    and the copies kept) when the copies cannot go back. Costs one `stat` when there is none
    (every command asks)."""
    if not ctx.restore_journal.exists():
        return None
    from cfgroll.capabilities import volumes
    from cfgroll.store import lock
    from cfgroll.transactions.restore import restore

    journal = volumes.read(ctx)
    if journal is None or lock.state(ctx.store_path) == "held":
        return None  # none, or under way in the run that holds the lock
    store = ctx.open_store()
    with lock.store_lock(store.path, "resume", 0, ctx.reporter.warn):
        journal = volumes.read(ctx)
        live = store.live()
        if journal is None or live is None:
            return None
        if live.tag != journal.live:  # the rollback was recorded: its data is the live data
            volumes.finish(ctx, journal)
            return None
        ctx.reporter.warn(f"{volumes.describe(journal)}; putting its data and {live.tag} back")
        volumes.put_back(ctx, journal)
        paths = None
        if journal.only is None:
            target = store.resolve(journal.target)
            paths = set(live.manifest.files) | set(target.manifest.files)
        restore(ctx, store, live, paths, journal.only)
        volumes.finish(ctx, journal)
    return (
        f"finished a restore that was cut short: the data of "
        f"{', '.join(s.service for s in journal.saved) or 'no service'} is as it was before it, "
        f"and {live.tag} is running"
    )
