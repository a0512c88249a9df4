"""The listener path's per-request reads and writes, as SQL written once per process.

Every rating page, rating POST and clip request reads the cookie's listener (with its
playlist and its study's version), the playlist's items (with their clips and the listener's
answer of each) and, for audio, the clip the listener may hear. Built through the ORM, most of
their CPU went into compiling the same three querysets again on every request (``get_select``,
``as_sql``, the join setup), not into PostgreSQL. Here each statement is written once per
process and database connection alias, from the models' own ``_meta`` (table and column names,
quoting and the backend's converters), and the rows become model instances through
``Model.from_db``, as the ORM's own iterator does. So the instances are the ORM's: a field left
out is deferred and loads on access, saving one works as usual.

The statements go through Django's cursor, so query counting (``CaptureQueriesContext``), the
database error wrappers and the outage middleware see them as any other. Their meaning is the
querysets' they replace (``selectors.listener_by_cookie``, ``playlist_items_scored``,
``listener_clip``); ``tests/listening/participation/test_rows.py`` compares the two.

The rating page's and the rating POST's writes are written the same way: the listener's UPDATE
(:func:`listener_update`, :func:`listener_save`, what ``.update()`` and
``save(update_fields=...)`` did) and the page's ratings in one INSERT (:func:`ratings_insert`,
what ``bulk_create`` did). Values still go through each field's own ``pre_save`` (``auto_now``)
and ``get_db_prep_save`` (JSON, dates), as the ORM's compilers do; neither model has signal
receivers, which ``bulk_create`` and ``.update()`` would not have sent anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from django.db import DatabaseError, connections, models
from django.db.transaction import TransactionManagementError

from listening.models import Clip, Listener, Playlist, PlaylistItem, Rating, Study

#: What a clip of the playlist's items carries: what the pages, the checks and the audio URL
#: read. The provenance and objective-metrics JSON (decoded on every read through the ORM) and
#: the synthesis bookkeeping stay deferred.
ITEM_CLIP_FIELDS = ("id", "system", "sentence", "token", "status", "audio", "duration_s")
AUDIO_CLIP_FIELDS = ("id", "token", "audio")


@dataclass(frozen=True)
class Columns:
    """One model's columns under a table alias: the SELECT list and how each value becomes
    the field's Python value (the backend's converters, then the field's own)."""

    model: type[models.Model]
    attnames: list[str]
    sql: str
    converters: list[tuple[int, list[Callable], models.Expression]]

    def values(self, row: Sequence, start: int, using: str) -> list:
        values = list(row[start : start + len(self.attnames)])
        for index, functions, expression in self.converters:
            value = values[index]
            for function in functions:
                value = function(value, expression, connections[using])
            values[index] = value
        return values

    def instance(self, row: Sequence, start: int, using: str) -> models.Model:
        return self.model.from_db(using, self.attnames, self.values(row, start, using))


def columns_of(
    model: type[models.Model], alias: str, using: str, names: Sequence[str] = ()
) -> Columns:
    """The columns of ``model`` (all concrete fields, or the fields ``names``) as ``alias``."""
    connection = connections[using]
    quote = connection.ops.quote_name
    fields = [
        field
        for field in model._meta.concrete_fields
        if not names or field.name in names or field.attname in names
    ]
    converters = []
    for index, field in enumerate(fields):
        column = field.get_col(alias)
        functions = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if functions:
            converters.append((index, functions, column))
    return Columns(
        model=model,
        attnames=[field.attname for field in fields],
        sql=", ".join(f"{quote(alias)}.{quote(field.column)}" for field in fields),
        converters=converters,
    )


def _table(model: type[models.Model], using: str) -> str:
    return connections[using].ops.quote_name(model._meta.db_table)


def _column(model: type[models.Model], name: str, using: str) -> str:
    return connections[using].ops.quote_name(model._meta.get_field(name).column)


@dataclass(frozen=True)
class ListenerRead:
    listener: Columns
    playlist: Columns
    study_version: Columns
    sql: str
    locked_sql: str


@dataclass(frozen=True)
class ItemsRead:
    item: Columns
    clip: Columns
    sql: str


@dataclass(frozen=True)
class ClipRead:
    clip: Columns
    sql: str


_BUILT: dict[tuple[object, str], object] = {}


def _built(name: object, using: str, build: Callable[[str], object]):
    key = (name, using)
    read = _BUILT.get(key)
    if read is None:
        read = _BUILT[key] = build(using)
    return read


def _listener_read(using: str) -> ListenerRead:
    q = connections[using].ops.quote_name
    listener = columns_of(Listener, "l", using)
    playlist = columns_of(Playlist, "p", using)
    version = columns_of(Study, "s", using, ("updated_at", "status"))
    sql = (
        f"SELECT {listener.sql}, {playlist.sql}, {version.sql}"
        f" FROM {_table(Listener, using)} {q('l')}"
        f" INNER JOIN {_table(Study, using)} {q('s')}"
        f" ON {q('s')}.{_column(Study, 'id', using)} = {q('l')}.{_column(Listener, 'study', using)}"
        f" LEFT OUTER JOIN {_table(Playlist, using)} {q('p')}"
        f" ON {q('p')}.{_column(Playlist, 'listener', using)} = {q('l')}.{_column(Listener, 'id', using)}"
        f" WHERE {q('s')}.{_column(Study, 'slug', using)} = %s"
        f" AND {q('l')}.{_column(Listener, 'token', using)} = %s"
    )
    features = connections[using].features
    # Only the listener's row: the study row is every listener's, and the playlist is the
    # nullable side of the outer join (PostgreSQL refuses to lock that side).
    locked = sql
    if features.has_select_for_update:
        locked += f" FOR UPDATE OF {q('l')}" if features.has_select_for_update_of else " FOR UPDATE"
    return ListenerRead(listener, playlist, version, sql, locked)


def listener_row(
    *, study_slug: str, token: str, lock: bool = False, using: str = "default"
) -> tuple[Listener, object, str] | None:
    """The listener of ``study_slug`` with this cookie ``token``, its playlist cached on it
    (``listener.playlist``; none raises ``Playlist.DoesNotExist`` as after select_related),
    with the study's ``updated_at`` and ``status``; None when there is no such listener.
    ``lock`` locks the listener's row (inside a transaction, as ``select_for_update``)."""
    connection = connections[using]
    if lock and connection.features.has_select_for_update and connection.get_autocommit():
        raise TransactionManagementError(
            "select_for_update cannot be used outside of a transaction."
        )
    read: ListenerRead = _built("listener", using, _listener_read)
    with connection.cursor() as cursor:
        cursor.execute(read.locked_sql if lock else read.sql, [study_slug, token])
        row = cursor.fetchone()
    if row is None:
        return None
    listener = read.listener.instance(row, 0, using)
    start = len(read.listener.attnames)
    playlist = None
    if row[start] is not None:
        playlist = read.playlist.instance(row, start, using)
        Playlist.listener.field.set_cached_value(playlist, listener)
    Listener.playlist.related.set_cached_value(listener, playlist)
    start += len(read.playlist.attnames)
    version = dict(zip(read.study_version.attnames, read.study_version.values(row, start, using)))
    return listener, version["updated_at"], version["status"]


def _items_read(using: str) -> ItemsRead:
    q = connections[using].ops.quote_name
    item = columns_of(PlaylistItem, "i", using)
    clip = columns_of(Clip, "c", using, ITEM_CLIP_FIELDS)
    rating_id = f"{q('r')}.{_column(Rating, 'id', using)}"
    # One rating per listener and trial (the constraint one_rating_per_item), so the outer
    # join gives each item one row: its answer, or NULLs.
    sql = (
        f"SELECT {item.sql}, {clip.sql}, {q('r')}.{_column(Rating, 'score', using)},"
        f" {rating_id} IS NOT NULL"
        f" FROM {_table(PlaylistItem, using)} {q('i')}"
        f" LEFT OUTER JOIN {_table(Clip, using)} {q('c')}"
        f" ON {q('c')}.{_column(Clip, 'id', using)} = {q('i')}.{_column(PlaylistItem, 'clip', using)}"
        f" LEFT OUTER JOIN {_table(Rating, using)} {q('r')}"
        f" ON {q('r')}.{_column(Rating, 'item', using)} = {q('i')}.{_column(PlaylistItem, 'id', using)}"
        f" AND {q('r')}.{_column(Rating, 'listener', using)} = %s"
        f" WHERE {q('i')}.{_column(PlaylistItem, 'playlist', using)} = %s"
        f" ORDER BY {q('i')}.{_column(PlaylistItem, 'position', using)} ASC"
    )
    return ItemsRead(item, clip, sql)


def item_rows(*, listener_id: int, playlist_id: int, using: str = "default") -> list[PlaylistItem]:
    """Every item of the playlist in order, its clip cached on it (``ITEM_CLIP_FIELDS``, the
    rest deferred), with ``listener_score`` and ``listener_answered`` of this listener."""
    read: ItemsRead = _built("items", using, _items_read)
    with connections[using].cursor() as cursor:
        cursor.execute(read.sql, [listener_id, playlist_id])
        rows = cursor.fetchall()
    n_item, n_clip = len(read.item.attnames), len(read.clip.attnames)
    clip_field = PlaylistItem.clip.field
    items = []
    for row in rows:
        item = read.item.instance(row, 0, using)
        clip = read.clip.instance(row, n_item, using) if row[n_item] is not None else None
        clip_field.set_cached_value(item, clip)
        item.listener_score = row[n_item + n_clip]
        item.listener_answered = bool(row[n_item + n_clip + 1])
        items.append(item)
    return items


def _clip_read(using: str) -> ClipRead:
    q = connections[using].ops.quote_name
    clip = columns_of(Clip, "c", using, AUDIO_CLIP_FIELDS)
    sql = (
        f"SELECT {clip.sql} FROM {_table(Clip, using)} {q('c')}"
        f" INNER JOIN {_table(PlaylistItem, using)} {q('i')}"
        f" ON {q('i')}.{_column(PlaylistItem, 'clip', using)} = {q('c')}.{_column(Clip, 'id', using)}"
        f" INNER JOIN {_table(Playlist, using)} {q('p')}"
        f" ON {q('p')}.{_column(Playlist, 'id', using)} = {q('i')}.{_column(PlaylistItem, 'playlist', using)}"
        f" INNER JOIN {_table(Listener, using)} {q('l')}"
        f" ON {q('l')}.{_column(Listener, 'id', using)} = {q('p')}.{_column(Playlist, 'listener', using)}"
        f" INNER JOIN {_table(Study, using)} {q('s')}"
        f" ON {q('s')}.{_column(Study, 'id', using)} = {q('p')}.{_column(Playlist, 'study', using)}"
        f" WHERE {q('c')}.{_column(Clip, 'token', using)} = %s"
        f" AND {q('l')}.{_column(Listener, 'token', using)} = %s"
        f" AND {q('s')}.{_column(Study, 'slug', using)} = %s"
        f" LIMIT 1"
    )
    return ClipRead(clip, sql)


def clip_row(
    *, study_slug: str, listener_token: str, clip_token: str, using: str = "default"
) -> Clip | None:
    """The clip ``clip_token`` (``AUDIO_CLIP_FIELDS``) when the playlist of the listener
    ``listener_token`` in ``study_slug`` holds it, else None."""
    read: ClipRead = _built("clip", using, _clip_read)
    with connections[using].cursor() as cursor:
        cursor.execute(read.sql, [clip_token, listener_token, study_slug])
        row = cursor.fetchone()
    return None if row is None else read.clip.instance(row, 0, using)


# --- Writes --------------------------------------------------------------------------------


def _listener_update_sql(names: tuple[str, ...], using: str) -> tuple[str, list[models.Field]]:
    quote = connections[using].ops.quote_name
    fields = [Listener._meta.get_field(name) for name in names]
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    pk = quote(Listener._meta.pk.column)
    return f"UPDATE {_table(Listener, using)} SET {assignments} WHERE {pk} = %s", fields


def listener_update(*, pk: int, values: Mapping[str, object], using: str = "default") -> int:
    """``Listener.objects.filter(pk=pk).update(**values)`` (field names to Python values), with
    its statement written once per set of names; returns the rows changed (0 or 1)."""
    names = tuple(values)
    sql, fields = _built(
        ("listener-update", names), using, lambda u: _listener_update_sql(names, u)
    )
    connection = connections[using]
    params = [f.get_db_prep_save(values[f.name], connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, pk])
        return cursor.rowcount


def listener_save(listener: Listener, fields: Sequence[str], using: str = "default") -> None:
    """``listener.save(update_fields=fields)``: each field's ``pre_save`` (so ``auto_now``
    stamps ``last_seen_at`` on the instance too), one UPDATE; like ``save`` it raises when no
    row was there to update."""
    names = dict.fromkeys(Listener._meta.get_field(name).name for name in fields)
    values = {name: Listener._meta.get_field(name).pre_save(listener, False) for name in names}
    if not listener_update(pk=listener.pk, values=values, using=using):
        raise DatabaseError("Save with update_fields did not affect any rows.")


def _rating_insert_sql(n: int, using: str) -> tuple[str, list[models.Field]]:
    quote = connections[using].ops.quote_name
    fields = [f for f in Rating._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(quote(f.column) for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = (
        f"INSERT INTO {_table(Rating, using)} ({columns}) VALUES {', '.join([row] * n)}"
        f" RETURNING {quote(Rating._meta.pk.column)}"
    )
    return sql, fields


def ratings_insert(ratings: Sequence[Rating], using: str = "default") -> None:
    """``Rating.objects.bulk_create(ratings)``: one INSERT of them all, their ids read back
    (RETURNING) and set. A broken constraint raises Django's IntegrityError, as there."""
    connection = connections[using]
    if not ratings:
        return
    if not connection.features.can_return_rows_from_bulk_insert:
        Rating.objects.using(using).bulk_create(ratings)
        return
    n = len(ratings)
    sql, fields = _built(("rating-insert", n), using, lambda u: _rating_insert_sql(n, u))
    params = [
        f.get_db_prep_save(f.pre_save(rating, True), connection)
        for rating in ratings
        for f in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    for rating, pk in zip(ratings, ids):
        rating.pk = pk
        rating._state.adding = False
        rating._state.db = using
