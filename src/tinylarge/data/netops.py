"""``netops-alarms``: a SYNTHETIC text task of network operations -- alarm, ticket and operator-chat
lines in 8 fault categories -- for federated fine-tuning of the text foundation model.

How it was made (by hand, for this project; no real operator data exists in any package): for each
category we wrote 12 sentence templates in three registers (terse NMS alarm lines, trouble-ticket
prose, operator chat), each with slots for site ids, interfaces, numbers, times and vendor-neutral
component names, and a pool of synonyms per slot. A sample is one template with its slots filled
at random (seeded). Templates, not just slot values, split train and test: 9 templates per
category generate the training lines and the other 3 the test lines, so the test measures new
wording, not memorised phrasing. The categories are fault types, deliberately not operator
*intents*: issue 16 maps intents with the same encoder and needs its held-out set uncontaminated.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from tinylarge.data.registry import Dataset, DatasetInfo

NAME = "netops-alarms"
CLASSES = [
    "link-down",
    "congestion",
    "power",
    "hardware",
    "radio-interference",
    "software-config",
    "security",
    "synchronisation",
]

SLOTS = {
    "site": [
        "gNB-{n}",
        "site {a}{a}-{n}",
        "eNB {n}",
        "cell {n}-{d}",
        "hub {a}{n}",
        "POP-{a}{a}{d}",
    ],
    "if": ["xe-0/{d}/{d}", "ge-{d}/0/{d}", "eth{d}", "port {d}/{d}", "Gi0/{d}", "et-{d}/{d}/0"],
    "peer": ["core router {a}{d}", "aggregation switch {n}", "MW hop to {a}{a}-{n}", "PE-{n}"],
    "when": ["02:{m}", "at 14:{m} UTC", "since 09:{m}", "overnight", "this morning", "at {d}:{m}"],
    "sev": ["CRITICAL", "MAJOR", "MINOR", "WARNING"],
    "num": ["{d}{d}", "{n}", "{d}.{d}"],
}

TEMPLATES: dict[str, list[str]] = {
    "link-down": [
        "{sev} LINK_DOWN {if} on {site} {when}",
        "loss of signal on {if} towards {peer}, {site} isolated",
        "interface {if} at {site} went down, no light received from {peer}",
        "fibre cut suspected between {site} and {peer}, both ends report LOS",
        "ticket: customers near {site} have no service, backhaul port {if} is down",
        "the link to {peer} flapped {num} times and is now down",
        "anyone know why {site} lost its uplink {when}? port shows no carrier",
        "{sev} alarm: optical receive power below threshold on {if}, link lost",
        "BFD session to {peer} down on {if}",
        "{site} unreachable, transport link dead since {when}",
        "ops: port {if} on {site} is administratively up but operationally down",
        "microwave hop {site} to {peer} dropped, no frames received",
    ],
    "congestion": [
        "{sev} HIGH_UTILISATION {if} at {site} above {num} percent",
        "latency to {peer} is {n} ms, normally under 10",
        "packet loss of {d}.{d} percent on the backhaul of {site}",
        "users at {site} complain of very slow data {when}",
        "queue drops increasing on {if} towards {peer}",
        "throughput per user at {site} fell to {d}.{d} Mbps during the busy hour",
        "ticket: video calls keep freezing in the area of {site}, jitter is high",
        "the uplink of {site} is saturated, {num} percent load for an hour",
        "buffer overflow counters rising on {if}, traffic being discarded",
        "round trip time to {peer} spiked to {n} ms {when}",
        "we see tail drops on {if}, the link is running hot",
        "PRB utilisation at {site} stuck near 100 percent, cell congested",
    ],
    "power": [
        "{sev} MAINS_FAILURE at {site} {when}",
        "{site} running on batteries, estimated {d} hours left",
        "rectifier module {d} failed at {site}",
        "battery voltage low at {site}: {d}{d}.{d} V",
        "ticket: power outage reported at {site}, generator did not start",
        "DC bus undervoltage alarm on {site}",
        "the site {site} lost grid power {when} and is on backup",
        "generator fuel level low at {site}",
        "UPS at {site} switched to bypass after an input fault",
        "we lost AC at {site}, the cabinet is on the last battery string",
        "{sev} alarm: power supply input missing on shelf {d} at {site}",
        "site {site} went dark after a utility power cut",
    ],
    "hardware": [
        "{sev} FAN_FAILURE shelf {d} at {site}",
        "board temperature {d}{d} C at {site}, above limit",
        "line card in slot {d} at {site} failed self-test",
        "radio unit {d} at {site} reports hardware fault",
        "ticket: replace failed power supply unit in {site} chassis",
        "optical transceiver on {if} reporting laser bias out of range",
        "the cooling fan tray at {site} stopped, cabinet overheating",
        "memory parity errors logged on the main board at {site}",
        "{sev} alarm: equipment removed from slot {d} at {site}",
        "the baseband card at {site} keeps rebooting, looks like a hardware fault",
        "SFP on {if} unplugged or faulty",
        "high inlet temperature at {site}, air conditioning failed",
    ],
    "radio-interference": [
        "{sev} UL_INTERFERENCE on {site} noise rise {d} dB",
        "SINR at {site} dropped to {d} dB across the sector",
        "VSWR alarm on antenna branch {d} at {site}",
        "external interference detected on the uplink of {site}",
        "ticket: poor coverage and dropped calls near {site}",
        "the received interference power at {site} is {d} dB above normal",
        "handover failures rising at {site}, radio conditions bad",
        "we suspect a jammer near {site}, PUSCH noise is high",
        "antenna tilt at {site} looks wrong, RSRP degraded",
        "{sev} alarm: RSSI too high on carrier {d} at {site}",
        "passive intermodulation suspected at {site}",
        "block error rate at {site} at {num} percent due to interference",
    ],
    "software-config": [
        "{sev} PROCESS_CRASH ospfd restarted at {site}",
        "configuration mismatch between {site} and {peer}: MTU differs",
        "software upgrade to release {d}.{d} failed at {site}, rolled back",
        "the routing daemon at {site} restarted {num} times {when}",
        "ticket: VLAN missing on {if}, traffic not forwarded",
        "wrong neighbour list pushed to {site} in the last change",
        "license expired at {site}, features disabled",
        "commit on {peer} failed validation, config not applied",
        "after the maintenance window {site} came up with a stale config",
        "{sev} alarm: database inconsistency on the controller of {site}",
        "a bad ACL on {if} is blocking the management traffic",
        "core dump generated by the scheduler process at {site}",
    ],
    "security": [
        "{sev} AUTH_FAILURE {num} failed logins on {site} from one address",
        "unauthorised access attempt to the management port of {site}",
        "ticket: possible brute force on the SSH service of {peer}",
        "certificate of {site} rejected by {peer}, handshake failed",
        "port scan detected against {site} {when}",
        "someone changed the admin password on {site} outside a change window",
        "{sev} alarm: intrusion signature matched on {if}",
        "rogue device connected to {if} at {site}",
        "DDoS traffic towards {peer} from many sources",
        "the cabinet door at {site} opened without a ticket",
        "TACACS server reports repeated rejected logins for {site}",
        "suspicious configuration download from {site} {when}",
    ],
    "synchronisation": [
        "{sev} GNSS_LOSS at {site} {when}",
        "PTP grandmaster unreachable from {site}",
        "clock offset of {n} ns at {site} exceeds the budget",
        "{site} in holdover, frequency drifting",
        "ticket: TDD frame misalignment suspected at {site}",
        "GPS antenna cable fault at {site}, no satellites tracked",
        "time sync lost between {site} and {peer}",
        "SyncE reference on {if} failed, fell back to free run",
        "{sev} alarm: phase error above threshold at {site}",
        "the boundary clock at {peer} changed master {num} times",
        "cross-link interference between TDD cells near {site}, timing off",
        "NTP server unreachable, {site} clock unsynchronised",
    ],
}
N_TEST_TEMPLATES = 3


def _fill(template: str, rng: np.random.Generator) -> str:
    out = template
    for slot, values in SLOTS.items():
        while "{" + slot + "}" in out:
            out = out.replace("{" + slot + "}", str(rng.choice(values)), 1)
    letters = "ABCDEFGHKLMNPRSTUVWXYZ"
    while "{" in out:
        start = out.index("{")
        key = out[start + 1 : out.index("}", start)]
        value = {
            "n": str(rng.integers(100, 9999)),
            "d": str(rng.integers(0, 10)),
            "m": f"{rng.integers(0, 60):02d}",
            "a": str(rng.choice(list(letters))),
        }[key]
        out = out[:start] + value + out[start + len(key) + 2 :]
    return out


def generate(n_train_per_class: int = 100, n_test_per_class: int = 40, seed: int = 0):
    """``(x_train, y_train, x_test, y_test)``: lines from disjoint template sets, seeded."""
    rng = np.random.default_rng([seed, 1604])
    xs = {"train": [], "test": []}
    ys = {"train": [], "test": []}
    for label, name in enumerate(CLASSES):
        templates = list(TEMPLATES[name])
        order = rng.permutation(len(templates))
        test_t = [templates[i] for i in order[:N_TEST_TEMPLATES]]
        train_t = [templates[i] for i in order[N_TEST_TEMPLATES:]]
        for split, pool, n in (
            ("train", train_t, n_train_per_class),
            ("test", test_t, n_test_per_class),
        ):
            for i in range(n):
                xs[split].append(_fill(pool[i % len(pool)], rng))
                ys[split].append(label)
    return (
        np.array(xs["train"], dtype=object),
        np.array(ys["train"], dtype=np.int64),
        np.array(xs["test"], dtype=object),
        np.array(ys["test"], dtype=np.int64),
    )


@cache
def load_netops(seed: int = 0) -> Dataset:
    """The synthetic alarm-text task as a :class:`Dataset` (``x_*`` hold strings)."""
    x_tr, y_tr, x_te, y_te = generate(seed=seed)
    info = DatasetInfo(
        name=NAME,
        kind="text",
        input_shape=(1, 1, 1),  # text: no tensor shape; the tokenizer decides
        n_classes=len(CLASSES),
        n_samples=len(y_tr) + len(y_te),
        n_train=len(y_tr),
        n_test=len(y_te),
        test_fraction=len(y_te) / (len(y_tr) + len(y_te)),
        source="tinylarge (synthetic, template-generated; see tinylarge.data.netops)",
        license="Apache-2.0 (part of tinylarge)",
        description="SYNTHETIC network-operations alarm/ticket/chat lines, 8 fault categories",
    )
    empty = np.zeros(1, dtype=np.float32)
    return Dataset(info, x_tr, y_tr, x_te, y_te, empty, empty, list(CLASSES), seed)
