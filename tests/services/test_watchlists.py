from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select

from vigil.accountability.crypto import DataCipher
from vigil.db.models import Alert, Subject, Template
from vigil.db.session import Database
from vigil.domain.enums import AuthorizationStatus
from vigil.errors import Conflict, InputError, NotFound
from vigil.services.authorizations import AuthorizationInput, AuthorizationService
from vigil.services.watchlists import WatchlistService
from vigil.timeutil import utcnow
from vigil.types import Embedding, Quality, ValidatedFace


def _face(seed: int) -> ValidatedFace:
    vec = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return ValidatedFace(
        Embedding.normalised(vec, "dlib"), Quality(1, 1, 1, 0.9), b"\xff\xd8jpeg", f"p{seed}.jpg"
    )


@pytest.fixture()
def svc(db: Database) -> WatchlistService:
    AuthorizationService(db).create(
        AuthorizationInput("CO-1", "victim_search", "order", "Court", utcnow() + timedelta(days=1)),
        actor="t",
    )
    return WatchlistService(db, DataCipher(b"k" * 32))


def test_enroll_seals_templates_and_counts_subjects(svc: WatchlistService, db: Database) -> None:
    svc.create("missing", "CO-1", actor="t")
    result = svc.enroll("missing", "Jane Doe", [_face(1), _face(2)], actor="t")
    assert result.templates_added == 2
    assert svc.list()[0].subjects == 1
    with db.read() as s:
        tpls = s.scalars(select(Template)).all()
    assert all(t.encrypted and t.vector.startswith(b"VGL1") for t in tpls)
    plain = _face(1).embedding.vector.tobytes()
    assert all(plain not in t.vector for t in tpls)
    opened = svc.cipher.open(tpls[0].vector, f"template:{tpls[0].id}".encode())
    assert np.frombuffer(opened, dtype=np.float32).shape == (128,)


@pytest.mark.parametrize(
    ("watchlist", "name", "faces", "error"),
    [
        ("missing", "", [1], InputError),
        ("missing", "A", [], InputError),
        ("nope", "A", [1], NotFound),
    ],
)
def test_enroll_errors(
    svc: WatchlistService, watchlist: str, name: str, faces: list, error: type
) -> None:
    svc.create("missing", "CO-1", actor="t")
    with pytest.raises(error):
        svc.enroll(watchlist, name, [_face(i) for i in faces], actor="t")


def test_watchlist_needs_existing_authorization_and_unique_name(svc: WatchlistService) -> None:
    with pytest.raises(NotFound):
        svc.create("x", "CO-404", actor="t")
    svc.create("x", "CO-1", actor="t")
    with pytest.raises(Conflict):
        svc.create("x", "CO-1", actor="t")


def test_revocation_purges_subjects_templates_alerts(svc: WatchlistService, db: Database) -> None:
    svc.create("missing", "CO-1", actor="t")
    enrolled = svc.enroll("missing", "Jane", [_face(1)], actor="t")
    with db.write() as s:
        subj = s.get(Subject, enrolled.subject_id)
        assert subj is not None
        now = utcnow()
        s.add(
            Alert(
                camera="c",
                subject_id=subj.id,
                watchlist_id=subj.watchlist_id,
                authorization_id=subj.watchlist.authorization_id,
                score=0.9,
                threshold=0.5,
                pack="dlib",
                first_seen=now,
                last_seen=now,
                crop=b"sealed",
            )
        )
    purged = AuthorizationService(db).end("CO-1", AuthorizationStatus.revoked, actor="t")
    assert purged == {"alerts": 1, "templates": 1, "subjects": 1}
    with db.read() as s:
        assert s.scalars(select(Template)).all() == []
        assert s.scalars(select(Alert)).all() == []
        assert s.scalars(select(Subject)).all() == []
