#!/usr/bin/env python3
"""Writes a large, valid programme as grantledger commands (JSON Lines), for the import
benchmark: the shape of deploy/sample/programme.jsonl at scale.

    python3 deploy/bench/programme.py [COMMANDS] > programme.jsonl     (default 20000)

Deterministic for a given size: every command carries a commandId, and every line is
accepted when imported into an empty database. Roughly: registrations (55%), one call per
400 grants, consortia, applications, evaluations, awards and first tranches (2.5% each),
sub-grants within the envelopes (27%) and their first payments (8%).
"""
import json
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sample"))
from kzbin import bin_for  # noqa: E402

target = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
rng = random.Random(20000)
counter = 0
REGIONS = ["KZ-10", "KZ-11", "KZ-15", "KZ-19", "KZ-23", "KZ-27", "KZ-31", "KZ-33", "KZ-35", "KZ-39",
           "KZ-43", "KZ-47", "KZ-55", "KZ-59", "KZ-61", "KZ-62", "KZ-63", "KZ-71", "KZ-75", "KZ-79"]
GENDERS = ["women", "women", "men", "mixed", "undisclosed"]
out = sys.stdout


def emit(command, **fields):
    global counter
    counter += 1
    out.write(json.dumps({"command": command, "commandId": f"bench-{counter:07d}", **fields}) + "\n")


grants = max(1, target // 40)
organisations = max(10, target * 55 // 100)
emit("setReportingRules", smallMaxAnnualBudgetEur="100000", smallMaxStaff=10)

leads = []
for index in range(grants):
    oid = f"LEAD-{index:05d}"
    emit("registerOrganisation", organisationId=oid, name=f"Lead organisation {index}", country="KZ",
         regionCode=REGIONS[index % 20], settlement="urban", registrationStatus="registered",
         bin=bin_for(500_000_000 + index * 7919), leadershipGender=rng.choice(GENDERS), kind="ngo",
         annualBudgetEur=str(rng.randint(3, 25) * 100_000), staffCount=rng.randint(14, 85))
    leads.append(oid)
small = []
for index in range(organisations - grants):
    oid = f"CSO-{index:06d}"
    fields = dict(organisationId=oid, name=f"Initiative group {index}", country="KZ",
                  regionCode=REGIONS[index % 20], settlement=rng.choice(["rural", "urban"]),
                  leadershipGender=rng.choice(GENDERS))
    if index % 3:
        fields.update(registrationStatus="unregistered", kind="informalGroup")
    else:
        fields.update(registrationStatus="registered", bin=bin_for(200_000_000 + index * 104_729),
                      kind="publicAssociation", annualBudgetEur=str(rng.randint(8, 95) * 1000),
                      staffCount=rng.randint(1, 9))
    emit("registerOrganisation", **fields)
    small.append(oid)

calls = max(1, grants // 400)
for c in range(calls):
    emit("publishCall", callId=f"BENCH-{c:03d}", reference=f"EuropeAid/9{c:05d}/DD/ACT/KZ",
         title=f"Benchmark call {c}", programme="CSO-LA", publishedOn="2024-02-01", deadline="2024-04-30",
         budget=str(400 * 1_500_000), minGrant="300000", maxGrant="1500000", subGrantingAllowed=True,
         maxSubGrant="60000")

envelopes = []
members = iter(small)
for g in range(grants):
    cid, aid, gid, call = f"CONS-{g:05d}", f"APP-{g:05d}", f"GR-{g:05d}", f"BENCH-{g % calls:03d}"
    emit("formConsortium", consortiumId=cid, name=f"Consortium {g}",
         members=[{"organisationId": leads[g], "role": "lead"},
                  {"organisationId": next(members), "role": "coApplicant"},
                  {"organisationId": next(members), "role": "coApplicant"}])
    emit("submitApplication", applicationId=aid, callId=call, consortiumId=cid, submittedOn="2024-04-20",
         requestedAmount="1200000")
    emit("evaluateApplication", applicationId=aid, score=rng.randint(60, 95), evaluatedOn="2024-05-15")
    emit("awardGrant", grantId=gid, applicationId=aid, contractNumber=f"BENCH/2024/{g:05d}", awardedOn="2024-06-10",
         amount="1200000", startDate="2024-07-01", endDate="2026-06-28", subGrantingEnvelope="480000")
    emit("disburseGrant", grantId=gid, amount="480000", paidOn="2024-07-01")
    envelopes.append([gid, 480000])

# Sub-grants within the envelopes, then first payments, until the target is reached.
recipients = small[::-1]
awarded = []
index = 0
while counter < target * 92 // 100 and any(room >= 5000 for _, room in envelopes):
    grant = envelopes[index % len(envelopes)]
    index += 1
    amount = rng.randint(5, 40) * 1000
    if grant[1] < amount:
        continue
    grant[1] -= amount
    sid = f"SG-{len(awarded):07d}"
    day = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    emit("awardSubGrant", subGrantId=sid, grantId=grant[0], organisationId=recipients[len(awarded) % len(recipients)],
         awardedOn=day, amount=str(amount), purpose="Small grant for local activities")
    awarded.append((sid, amount, day))
for sid, amount, day in awarded:
    if counter >= target:
        break
    emit("disburseSubGrant", subGrantId=sid, amount=str(amount // 2), paidOn=day)

# With ACTIVITIES (a second argument), that many recordActivity commands follow, by the EU
# and by grantees under the grants above (docs/domain.md §12), for the activity import row.
activities = int(sys.argv[2]) if len(sys.argv) > 2 else 0
KINDS = ["dialogue", "policyDiscussion", "researchOrMonitoring", "participationInitiative",
         "sustainabilityInitiative", "outreachInitiative", "capacityDevelopment", "networkingInitiative",
         "protectionSupport"]
THEMES = ["enablingEnvironment", "greenDeal", "digitalisation", "goodGovernance", "humanRights",
          "csoSustainability", "gender"]
for index in range(activities):
    kind = KINDS[index % len(KINDS)]
    grantee = index % 3 != 0 or kind == "protectionSupport"
    fields = dict(activityId=f"ACT-{index:07d}", title=f"Activity {index}",
                  startedOn=f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", kind=kind,
                  organiser="grantee" if grantee else "eu", withGovernment=index % 2 == 0,
                  themes=sorted({THEMES[index % 7], THEMES[(index // 7) % 7]}),
                  participants=sorted({small[(index * 7 + k) % len(small)] for k in range(index % 4)}))
    if grantee:
        fields["grantId"] = envelopes[index % len(envelopes)][0]
    if index % 5:
        fields["regionCode"] = REGIONS[index % 20]
    if kind == "protectionSupport":
        counts = {"women": index % 3, "men": index % 2, "undisclosed": 0}
        fields["peopleSupported"] = {"hrd": counts, "activist": counts, "journalist": counts}
    emit("recordActivity", **fields)
