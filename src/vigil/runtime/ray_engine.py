"""The Ray engine: each camera a Ray actor on the cluster, this process the command center.

:class:`RaySupervisor` implements :class:`~vigil.runtime.engine.CameraEngine`. It is the only
part that touches the database: a collection loop (every ``runtime.poll_seconds``) asks every
actor for its report and what it holds (:class:`~vigil.runtime.wire.Delivery`), stores candidates
through the local path's :class:`~vigil.services.alerts.AlertStore` (authority checked again,
crop sealed, audited; each under its delivery key, so a redelivered candidate is stored once),
applies the sighting updates of their alerts (``save_sighting``, once per delivery key; the
provisional alert ids are explained in :mod:`vigil.runtime.camera_actor`) and last-seen times,
writes the per-minute counts, acknowledges, and hands out the gallery
(:class:`~vigil.runtime.gallery_publisher.GalleryPublisher`). An actor too busy to keep up
never gets more than one report and one take call queued
(:class:`~vigil.runtime.camera_link.CameraLink`), and the gallery and stop calls run in its
control concurrency group, so a revocation reaches it at once.

Actors are named (``camera:<name>``), detached and restart forever (``max_restarts=-1``): they
outlive a command-center crash and a lost node (Ray starts them again elsewhere; the restarted
actor matches nothing until it has the gallery again, which the next round sends). A command
center that starts finds the running actors and adopts them, collecting what they kept.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from vigil.config import CameraConfig
from vigil.context import AppContext
from vigil.domain.events import AlertEvent
from vigil.errors import Conflict, NotFound, PermissionDenied, ServiceUnavailable
from vigil.runtime.camera_actor import CameraActor
from vigil.runtime.camera_link import (
    CALL_SECONDS,
    CONCURRENCY_GROUPS,
    Answers,
    CameraLink,
    control,
)
from vigil.runtime.gallery_publisher import GalleryPublisher, Publication
from vigil.runtime.ray_cluster import connect
from vigil.runtime.wire import (
    ACTOR_PREFIX,
    ActorReport,
    ActorSpec,
    Delivery,
    LastSeen,
    Receipt,
    WireSighting,
    actor_name,
    actor_settings,
    fallback_key,
)
from vigil.services.alerts import AlertBus, AlertStore
from vigil.services.camera_sessions import SessionInfo, SessionLog
from vigil.services.counts import CountsWriter
from vigil.services.gallery import ActiveGallery
from vigil.sources.capture import redact_url
from vigil.sources.worker import REALTIME, CameraStatus, FilePlayback
from vigil.threads import BackgroundLoop
from vigil.types import SightingUpdate

log = logging.getLogger(__name__)
ROUND_WAIT_SECONDS = 1.0  # one round's wait for all actors together; later answers: next round
STOP_SECONDS = 30.0  # stopping cameras: for all of them together


def _key(publication: Publication) -> tuple[str, int]:
    return publication.release.origin, publication.release.version


class RaySupervisor:
    """Cameras as Ray actors; see the module docstring."""

    def __init__(
        self,
        context: AppContext,
        bus: AlertBus,
        *,
        loop_files: bool = False,
        playback: FilePlayback = REALTIME,
        ray: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.context = context
        self.config = context.settings.runtime
        self.ray = ray or connect(self.config)
        self.loop_files = loop_files
        self.playback = playback
        self.store = AlertStore(context.db, context.cipher, context.settings, bus)
        self.counts = CountsWriter(context.db)
        gallery = ActiveGallery(
            context.db, context.cipher, context.settings, context.settings.model_pack
        )
        self.publisher = GalleryPublisher(
            gallery,
            self.ray.put,
            check_seconds=self.config.gallery_check_seconds,
            publish_seconds=self.config.gallery_publish_seconds,
        )
        self.refused = 0
        self._clock = clock
        # set_gallery and stop run in a concurrency group of their own (camera_link): they
        # never wait behind report and take calls on a busy actor.
        self._remote = self.ray.remote(concurrency_groups=CONCURRENCY_GROUPS)(CameraActor)
        self._links: dict[str, CameraLink] = {}
        self._lock = threading.Lock()
        self._round_lock = threading.Lock()
        self._preview_blur = True
        self._unsubscribe = bus.subscribe(self._on_event)
        self._adopt()
        self._loop = BackgroundLoop.periodic(
            "vigil-ray-collector", self.collect, self.config.poll_seconds
        )
        self._loop.start()

    # -- CameraEngine --------------------------------------------------------------------------
    def start_camera(self, camera: CameraConfig) -> CameraLink:
        with self._lock:
            current = self._links.get(camera.name)
            if current is not None and current.session is not None:
                raise Conflict(f"camera {camera.name!r} is already running", hint="stop it first")
        if current is not None:  # adopted from a previous command center: record its session
            current.session = self._session(camera.name, redact_url(camera.url))
            return current
        spec = ActorSpec(
            camera,
            actor_settings(self.context.settings),
            self.loop_files,
            self.playback,
            self.config.pending_candidates,
        )
        handle = self._remote.options(
            name=actor_name(camera.name),
            namespace=self.config.namespace,
            lifetime="detached",
            max_restarts=-1,
            max_task_retries=self.config.max_task_retries,
            num_cpus=self.config.num_cpus_per_camera,
        ).remote(spec)
        link = self._link(camera.name, handle, redact_url(camera.url))
        try:
            link.report = self.ray.get(handle.report.remote(), timeout=120.0)
        except Exception as exc:
            self.ray.kill(handle, no_restart=True)
            raise ServiceUnavailable(
                f"camera {camera.name!r} did not start on the cluster: {exc}",
                hint="see `vigil cluster status` and the Ray logs of the node",
            ) from exc
        with self._lock:
            self._links[camera.name] = link
        self.collect()
        return link

    def stop_camera(self, name: str) -> None:
        with self._lock:
            link = self._links.pop(name, None)
        if link is None:
            raise NotFound(f"camera {name!r} is not running", hint="see the camera list")
        self._stop([link])

    def statuses(self) -> list[CameraStatus]:
        with self._lock:
            links = list(self._links.values())
        return [s for s in (link.status() for link in links) if s is not None]

    def preview_jpeg(self, name: str) -> bytes | None:
        link = self.link(name)
        data: bytes | None = self.ray.get(
            link.handle.preview_jpeg.remote(self._preview_blur), timeout=CALL_SECONDS
        )
        return data

    @property
    def preview_blur(self) -> bool:
        return self._preview_blur

    def set_preview_blur(self, enabled: bool) -> None:
        self._preview_blur = bool(enabled)

    def stop_all(self) -> None:
        """Stop every camera actor (a crash instead leaves them running for the next start)."""
        self._loop.stop()
        with self._lock:
            links = list(self._links.values())
            self._links.clear()
        self._stop(links)
        self._unsubscribe()

    def detach(self) -> None:
        """Stop collecting but leave the actors running (as a crash would)."""
        self._loop.stop()
        self._unsubscribe()
        with self._lock:
            self._links.clear()

    # -- for status pages and `vigil cluster status` ---------------------------------------------
    def link(self, name: str) -> CameraLink:
        with self._lock:
            link = self._links.get(name)
        if link is None:
            raise NotFound(f"camera {name!r} is not running")
        return link

    def reports(self) -> dict[str, ActorReport]:
        with self._lock:
            links = list(self._links.values())
        return {link.name: link.report for link in links if link.report is not None}

    # -- the collection round ------------------------------------------------------------------
    def collect(self) -> None:
        """One round: reports, gallery, candidates and counts of every actor.

        Each actor has at most one report and one take call in flight (:class:`CameraLink`);
        the round waits up to ROUND_WAIT_SECONDS for all of them together, and an answer that
        comes later is collected in a later round."""
        with self._round_lock:
            with self._lock:
                links = list(self._links.values())
            publication = self.publisher.publication()
            self._round(links, publication)

    def _round(self, links: list[CameraLink], publication: Publication) -> None:
        for link in links:
            link.ask(self._clock())
        ready = self._wait([ref for link in links for ref in link.outstanding()])
        now = self._clock()
        for link in links:
            self._collect_one(link, link.answers(ready, self.ray.get, now), publication)

    def _wait(self, refs: list[Any], timeout: float = ROUND_WAIT_SECONDS) -> set[Any]:
        """The refs among ``refs`` answered within ``timeout`` (all of them waited on at once)."""
        if not refs:
            return set()
        ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=max(timeout, 0.0))
        return set(ready)

    def _collect_one(self, link: CameraLink, answers: Answers, publication: Publication) -> None:
        self._send_gallery(link, answers, publication)
        for delivery in answers.deliveries:
            if not delivery.empty:
                receipt = self._store(link, delivery)
                link.handle.acknowledge.remote(receipt)

    def _send_gallery(self, link: CameraLink, answers: Answers, publication: Publication) -> None:
        """Send the release when it is new or due, not yet sent to this actor, or a report
        asked after the last send shows the actor holds another one (restarted, say). A busy
        actor gets it at once: set_gallery runs in the actor's control group."""
        key = _key(publication)
        report = answers.report
        stale = (
            report is not None
            and answers.report_asked_at > link.sent_at
            and (report.gallery_origin, report.gallery_version) != key
        )
        if stale or publication.changed or publication.due or link.sent != key:
            control(link.handle.set_gallery).remote(publication.ref)
            link.sent, link.sent_at = key, self._clock()

    def _store(self, link: CameraLink, delivery: Delivery) -> Receipt:
        """Apply a delivery: candidates, then sightings (their alerts exist by then), counts
        and last-seen times; the receipt names what the actor may forget."""
        keys, closed = [], []
        for item in delivery.candidates:
            try:
                self.store.save(item.candidate, delivery_key=item.key)
                link.stored += 1
            except PermissionDenied as exc:  # the authority lapsed: refused for good
                self.refused += 1
                closed.append(item.key)
                log.warning("candidate %s discarded: %s", item.key, exc)
            keys.append(item.key)
        for sighting in delivery.sightings:
            if not self._apply_sighting(link, sighting):
                closed.append(sighting.alert_key)
        for count in delivery.counts:
            self.counts.write(count.camera, count.minute, count.counts)
        for seen in delivery.last_seen:
            self._apply_last_seen(seen)
        sightings = tuple(u.key for u in delivery.sightings)
        return Receipt(tuple(keys), delivery.last_seen, sightings, tuple(dict.fromkeys(closed)))

    def _apply_sighting(self, link: CameraLink, item: WireSighting) -> bool:
        """Apply one sighting update once; False when its alert takes no more sightings.

        As in the local pipeline, a track's first sighting refused by its alert opens an alert
        of its own (delivery key :attr:`WireSighting.fallback_key`); a better shot of a track
        whose alert is closed is dropped.
        """
        own = self.store.delivered(item.fallback_key)  # the track opened an alert of its own
        if own is not None and item.joins:  # this very update opened it: already applied
            return False
        alert_id = own if own is not None else self.store.delivered(item.alert_key)
        ordinal = 1 if own is not None else item.ordinal
        try:
            if alert_id is not None and self.store.save_sighting(
                SightingUpdate(alert_id, ordinal, item.candidate, item.conflicting),
                delivery_key=item.key,
            ):
                return True
            if item.joins and own is None:
                self.store.save(item.candidate, delivery_key=item.fallback_key)
                link.stored += 1
        except PermissionDenied as exc:  # the authority lapsed: refused for good
            self.refused += 1
            log.warning("sighting %s discarded: %s", item.key, exc)
        except Conflict as exc:  # not the alert's subject: never merged
            log.error("sighting %s discarded: %s", item.key, exc)
        return False

    def _apply_last_seen(self, seen: LastSeen) -> None:
        """Record a track's last-seen time in the alert that holds its sighting, if stored."""
        own = self.store.delivered(fallback_key(seen.key, seen.ordinal))
        if own is not None:
            self.store.update_last_seen(own, seen.last_seen, 1)
            return
        alert_id = self.store.delivered(seen.key)
        if alert_id is not None:  # unknown key: refused or dropped, nothing to update
            self.store.update_last_seen(alert_id, seen.last_seen, seen.ordinal)

    # -- helpers ----------------------------------------------------------------------------------
    def _link(self, name: str, handle: Any, source: str) -> CameraLink:
        """A link to a started actor, recorded as a camera session."""
        return CameraLink(name, handle, self._session(name, source), self._clock())

    def _session(self, name: str, source: str) -> SessionInfo:
        return SessionLog(self.context.db, self.context.instance).start(
            name, source, self.publisher.gallery.snapshot()
        )

    def _stop(self, links: list[CameraLink]) -> None:
        """Stop the actors, all at once (STOP_SECONDS in all), collect what they hold after
        their pipelines flushed, kill them and close their sessions. A lost or dead actor
        does not hold up or abort the others."""
        if not links:
            return
        deadline = self._clock() + STOP_SECONDS
        stops = []
        for link in links:
            try:
                stops.append(control(link.handle.stop).remote())
            except Exception as exc:
                log.warning("camera %s: stop not sent: %s", link.name, exc)
        self._wait(stops, STOP_SECONDS)
        with self._round_lock:
            try:  # the last round: asked after the stop, so it holds the flushed tracks
                self._last_round(links, deadline)
            except Exception:
                log.exception("stopping cameras: the last collection failed")
        for link in links:
            self._kill(link)

    def _last_round(self, links: list[CameraLink], deadline: float) -> None:
        for link in links:
            link.ask(self._clock(), fresh=True)
        ready = self._wait(
            [ref for link in links for ref in link.outstanding()], deadline - self._clock()
        )
        now = self._clock()
        for link in links:
            try:
                answers = link.answers(ready, self.ray.get, now)
                for delivery in answers.deliveries:
                    if not delivery.empty:
                        self._store(link, delivery)
            except Exception:
                log.exception("camera %s: its last delivery was not stored", link.name)

    def _kill(self, link: CameraLink) -> None:
        try:
            self.ray.kill(link.handle, no_restart=True)
        except Exception as exc:
            log.warning("camera %s: kill failed: %s", link.name, exc)
        if link.session is not None:
            frames = link.report.frames if link.report is not None else 0
            SessionLog(self.context.db, self.context.instance).stop(
                link.session, frames=frames, alerts=link.stored
            )

    def _adopt(self) -> None:
        """Take over the camera actors a previous command center left running."""
        for entry in self.ray.util.list_named_actors(all_namespaces=True):
            name = entry.get("name", "")
            if entry.get("namespace") != self.config.namespace:
                continue
            if not name.startswith(ACTOR_PREFIX):
                continue
            camera = name[len(ACTOR_PREFIX) :]
            handle = self.ray.get_actor(name, namespace=self.config.namespace)
            # No session yet: starting an adopted one records its new session, owned by this
            # server. The dead server's session stops getting heartbeats and is closed at its
            # last one (SessionKeeper), so the two never count the same hours.
            self._links[camera] = CameraLink(camera, handle, None, self._clock())
            log.info("adopted running camera actor %s", name)

    def _on_event(self, event: AlertEvent) -> None:
        if event.kind == "purged":  # a revocation: send the smaller gallery now
            self.publisher.request()
