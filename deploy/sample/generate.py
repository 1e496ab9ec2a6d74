#!/usr/bin/env python3
"""Writes deploy/sample/programme.jsonl: a realistic sample programme of the EU Delegation
to Kazakhstan, as grantledger commands (docs/domain.md JSON, one per line, each with a commandId).

Deterministic: the same file every run. Regenerate with
    python3 deploy/sample/generate.py > deploy/sample/programme.jsonl
"""
import json
import random

from kzbin import bin_for

rng = random.Random(2024)
lines = []
counter = 0


def emit(command, **fields):
    global counter
    counter += 1
    lines.append(json.dumps({"command": command, "commandId": f"sample-{counter:04d}", **fields}, ensure_ascii=False))


REGIONS = [
    ("KZ-10", "Semey"), ("KZ-11", "Kokshetau"), ("KZ-15", "Aktobe"), ("KZ-19", "Konaev"),
    ("KZ-23", "Atyrau"), ("KZ-27", "Oral"), ("KZ-31", "Taraz"), ("KZ-33", "Taldykorgan"),
    ("KZ-35", "Karaganda"), ("KZ-39", "Kostanay"), ("KZ-43", "Kyzylorda"), ("KZ-47", "Aktau"),
    ("KZ-55", "Pavlodar"), ("KZ-59", "Petropavl"), ("KZ-61", "Turkistan"), ("KZ-62", "Zhezkazgan"),
    ("KZ-63", "Oskemen"), ("KZ-71", "Astana"), ("KZ-75", "Almaty"), ("KZ-79", "Shymkent"),
]
VILLAGES = ["Shieli", "Zhanakorgan", "Aral", "Kazaly", "Baikonur", "Sozak", "Otrar", "Saryagash", "Zhetisai",
            "Shu", "Merke", "Kordai", "Karatau", "Ekibastuz", "Bayanaul", "Zaisan", "Ridder", "Katonkaragai",
            "Beineu", "Zhanaozen", "Shalkar", "Irgiz", "Kulsary", "Makhambet", "Arkalyk", "Rudny", "Esil",
            "Stepnogorsk", "Burabay", "Balkhash", "Karkaraly", "Satpayev", "Ulytau", "Ayagoz", "Urzhar",
            "Zharkent", "Tekeli", "Sarkand", "Chundzha", "Kapshagay", "Bulaevo", "Mamlyutka", "Zhympity",
            "Chapaev", "Aksai"]
THEMES = ["women's rights", "youth", "ecology", "disability inclusion", "rural development", "water users",
          "local media", "legal aid", "cultural heritage", "children's rights", "veterans", "beekeepers",
          "Aral Sea recovery", "domestic violence prevention", "digital literacy", "farmers' cooperation"]

# --- Reporting rules in force from the start (the defaults, made explicit) -----------------
emit("setReportingRules", smallMaxAnnualBudgetEur="100000", smallMaxStaff=10)

# --- Organisations ------------------------------------------------------------------------
ingos = [
    ("INGO-DE-FES", "Friedrich-Ebert-Stiftung Central Asia", "DE", "mixed"),
    ("INGO-NL-HIVOS", "Hivos Eurasia", "NL", "women"),
    ("INGO-GB-SAVE", "Save the Children UK", "GB", "women"),
    ("INGO-DK-DRC", "Danish Refugee Council", "DK", "men"),
    ("INGO-FR-ACTED", "ACTED", "FR", "mixed"),
    ("INGO-SE-KVINNA", "Kvinna till Kvinna", "SE", "women"),
]
for oid, name, country, gender in ingos:
    emit("registerOrganisation", organisationId=oid, name=name, country=country, registrationStatus="registered",
         leadershipGender=gender, kind="ingo", annualBudgetEur=str(rng.randint(8, 60) * 1_000_000), staffCount=rng.randint(120, 900))

national = [
    ("NGO-KZ-BUREAU", "Kazakhstan International Bureau for Human Rights", "KZ-75", "men"),
    ("NGO-KZ-ZANGER", "Legal Media Centre", "KZ-71", "women"),
    ("NGO-KZ-ECOMUSEUM", "Karaganda Ecological Museum", "KZ-35", "women"),
    ("NGO-KZ-ARAL", "Aral Tenizi", "KZ-43", "men"),
    ("NGO-KZ-FEMINITA", "Kazakhstan Feminist Initiative", "KZ-75", "women"),
    ("NGO-KZ-SOROS", "Soros Foundation Kazakhstan", "KZ-75", "mixed"),
    ("NGO-KZ-DIGNITY", "Dignity Association of Persons with Disabilities", "KZ-71", "mixed"),
    ("NGO-KZ-YOUTH", "Youth Information Service of Kazakhstan", "KZ-79", "men"),
    ("NGO-KZ-SHYRAQ", "Shyraq Women's Initiative", "KZ-61", "women"),
    ("NGO-KZ-EQUAL", "Equal Opportunities Centre", "KZ-63", "women"),
]
for index, (oid, name, region, gender) in enumerate(national):
    emit("registerOrganisation", organisationId=oid, name=name, country="KZ", regionCode=region, settlement="urban",
         registrationStatus="registered", bin=bin_for(990_000_000 + index * 7919), leadershipGender=gender,
         kind="ngo" if index % 3 else "publicAssociation", annualBudgetEur=str(rng.randint(3, 25) * 100_000),
         staffCount=rng.randint(14, 85))

small = []  # (organisationId, region)
genders = ["women"] * 5 + ["men"] * 3 + ["mixed"] * 2 + ["undisclosed"]
for index in range(112):
    region, city = REGIONS[index % len(REGIONS)]
    rural = rng.random() < 0.6 and region not in ("KZ-71", "KZ-75", "KZ-79")
    place = rng.choice(VILLAGES) if rural else city
    theme = rng.choice(THEMES)
    oid = f"CSO-{region[3:]}-{index:03d}"
    gender = rng.choice(genders)
    kind_roll = rng.random()
    fields = dict(organisationId=oid, country="KZ", regionCode=region, settlement="rural" if rural else "urban",
                  leadershipGender=gender)
    if kind_roll < 0.35:
        fields.update(name=f"{place} initiative group for {theme}", registrationStatus="unregistered",
                      kind="informalGroup")
    elif kind_roll < 0.92:
        fields.update(name=f"{place} public association for {theme}", registrationStatus="registered",
                      bin=bin_for(200_000_000 + index * 104_729), kind=rng.choice(["publicAssociation", "ngo", "foundation"]),
                      annualBudgetEur=str(rng.randint(8, 95) * 1000), staffCount=rng.randint(1, 9))
    else:
        # Registered but never reported a budget: not counted as small (docs/domain.md section 4).
        fields.update(name=f"{place} {theme} foundation", registrationStatus="registered",
                      bin=bin_for(300_000_000 + index * 7_321), kind="foundation")
    emit("registerOrganisation", **fields)
    small.append((oid, region, fields["registrationStatus"]))

# A few foreign partners that may receive sub-grants but never count for I.3.
for oid, name, country in [("CSO-KG-BISHKEK", "Bishkek Youth Hub", "KG"), ("CSO-UZ-NUKUS", "Nukus Aral Initiative", "UZ")]:
    emit("registerOrganisation", organisationId=oid, name=name, country=country, registrationStatus="unregistered",
         leadershipGender="women", kind="informalGroup")

# --- Calls -------------------------------------------------------------------------------
emit("publishCall", callId="CSOLA-2024", reference="EuropeAid/180341/DD/ACT/KZ",
     title="Civil society organisations as actors of governance and development in Kazakhstan",
     programme="CSO-LA", publishedOn="2024-02-01", deadline="2024-04-30", budget="6000000", minGrant="300000",
     maxGrant="1500000", subGrantingAllowed=True, maxSubGrant="60000")
emit("publishCall", callId="EIDHR-2024", reference="EuropeAid/180512/DD/ACT/KZ",
     title="Country-based support scheme for human rights and democracy in Kazakhstan",
     programme="EIDHR", publishedOn="2024-03-15", deadline="2024-05-31", budget="3000000", minGrant="200000",
     maxGrant="800000", subGrantingAllowed=True, maxSubGrant="30000")
emit("publishCall", callId="CSOLA-2025-LA", reference="EuropeAid/182007/DD/ACT/KZ",
     title="Local authorities and civil society dialogue in the regions",
     programme="CSO-LA", publishedOn="2025-01-15", deadline="2025-03-31", budget="2000000", minGrant="100000",
     maxGrant="500000", subGrantingAllowed=False)

# --- Consortia ---------------------------------------------------------------------------
leads = [o[0] for o in ingos] + [o[0] for o in national]
pool = [s for s in small]
rng.shuffle(pool)
consortia = []
for index in range(11):
    lead = leads[index] if index < 6 else national[index - 6][0]
    members = [{"organisationId": lead, "role": "lead"}]
    if index < 6:
        members.append({"organisationId": national[index + 4 if index + 4 < 10 else index][0], "role": "coApplicant"})
    for _ in range(2):
        members.append({"organisationId": pool.pop()[0], "role": "coApplicant"})
    members.append({"organisationId": pool.pop()[0], "role": "affiliatedEntity"})
    members.append({"organisationId": pool.pop()[0], "role": "associate"})
    cid = f"CONS-{index + 1:02d}"
    emit("formConsortium", consortiumId=cid, name=f"Consortium {index + 1}: {lead} and partners", members=members)
    consortia.append((cid, lead, members))

# A membership change before any award.
extra = pool.pop()[0]
emit("addConsortiumMember", consortiumId="CONS-03", organisationId=extra, role="coApplicant")
emit("removeConsortiumMember", consortiumId="CONS-03", organisationId=consortia[2][2][-1]["organisationId"])

# --- Applications and awards ----------------------------------------------------------------
plan = [
    # (consortium, call, requested, outcome, submittedOn)
    ("CONS-01", "CSOLA-2024", "1400000", "award", "2024-04-20"),
    ("CONS-02", "CSOLA-2024", "1200000", "award", "2024-04-22"),
    ("CONS-03", "CSOLA-2024", "1500000", "award", "2024-04-28"),
    ("CONS-04", "CSOLA-2024", "900000", "reject", "2024-04-29"),
    ("CONS-05", "EIDHR-2024", "750000", "award", "2024-05-20"),
    ("CONS-06", "EIDHR-2024", "600000", "award", "2024-05-25"),
    ("CONS-07", "EIDHR-2024", "500000", "withdraw", "2024-05-28"),
    ("CONS-08", "EIDHR-2024", "400000", "reject", "2024-05-30"),
    ("CONS-07", "CSOLA-2025-LA", "450000", "award", "2025-03-10"),
    ("CONS-09", "CSOLA-2025-LA", "300000", "award", "2025-03-20"),
    ("CONS-10", "CSOLA-2025-LA", "250000", "pending", "2025-03-28"),
    ("CONS-11", "CSOLA-2024", "800000", "award", "2024-04-30"),
]
grants = []  # (grantId, call, start, end, envelope, lead, maxSub)
for index, (cid, call, requested, outcome, submitted) in enumerate(plan):
    aid = f"APP-{index + 1:02d}"
    emit("submitApplication", applicationId=aid, callId=call, consortiumId=cid, submittedOn=submitted,
         requestedAmount=requested)
    year = submitted[:4]
    evaluated = f"{year}-0{int(submitted[5:7]) + 1}-15"
    emit("evaluateApplication", applicationId=aid, score=rng.randint(55, 95), evaluatedOn=evaluated)
    if outcome == "reject":
        emit("rejectApplication", applicationId=aid, rejectedOn=f"{year}-0{int(submitted[5:7]) + 2}-01",
             reason="Score below the threshold for funding")
    elif outcome == "withdraw":
        emit("withdrawApplication", applicationId=aid, withdrawnOn=f"{year}-0{int(submitted[5:7]) + 1}-20")
    elif outcome == "award":
        gid = f"GR-{index + 1:02d}"
        amount = int(requested) - rng.randint(0, 5) * 10000
        allows = call != "CSOLA-2025-LA"
        envelope = (amount * rng.choice([30, 35, 40]) // 100) // 1000 * 1000 if allows else 0
        awarded = f"{year}-0{int(submitted[5:7]) + 2}-10"
        start = f"{year}-0{int(submitted[5:7]) + 3}-01"
        end = f"{int(year) + 2}-0{int(submitted[5:7]) + 2}-28"
        emit("awardGrant", grantId=gid, applicationId=aid, contractNumber=f"{call.replace('-', '')}/{year}/{index + 1:03d}",
             awardedOn=awarded, amount=str(amount), startDate=start, endDate=end, subGrantingEnvelope=str(envelope))
        emit("disburseGrant", grantId=gid, amount=str(amount * 40 // 100), paidOn=start)
        grants.append((gid, call, start, end, envelope, cid, 60000 if call == "CSOLA-2024" else 30000))

# --- Sub-granting schemes ---------------------------------------------------------------
recipients = [s for s in small]
rng.shuffle(recipients)
sub_index = 0
subgrants = []
room = {}  # grantId -> envelope still free
for gid, call, start, end, envelope, cid, max_sub in grants:
    if envelope == 0:
        continue
    used = 0
    for round_ in range(12):
        amount = rng.randint(5, max_sub // 1000) * 1000
        if used + amount > envelope:
            break
        org = recipients[sub_index % len(recipients)][0]
        sub_index += 1
        sid = f"SG-{sub_index:03d}"
        year = int(start[:4]) + (1 if round_ >= 6 else 0)
        awarded = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        awarded = max(awarded, start)
        emit("awardSubGrant", subGrantId=sid, grantId=gid, organisationId=org, awardedOn=awarded, amount=str(amount),
             purpose=f"Small grant for {rng.choice(THEMES)} activities")
        used += amount
        subgrants.append((sid, amount, awarded))
    room[gid] = envelope - used

# One sub-grant to a foreign group (not counted for I.3) and one cancelled before payment.
emit("awardSubGrant", subGrantId="SG-900", grantId="GR-01", organisationId="CSO-KG-BISHKEK", awardedOn="2024-09-15",
     amount="5000", purpose="Cross-border youth exchange")
room["GR-01"] -= 5000
emit("cancelSubGrant", subGrantId=subgrants[3][0], cancelledOn="2025-01-20",
     reason="The group dissolved before the first payment")

for sid, amount, awarded in subgrants:
    if sid == subgrants[3][0]:
        continue
    first = amount // 2
    emit("disburseSubGrant", subGrantId=sid, amount=str(first), paidOn=awarded)
    if rng.random() < 0.5:
        emit("disburseSubGrant", subGrantId=sid, amount=str(amount - first), paidOn=f"{int(awarded[:4]) + 1}-02-15")

# --- Profile changes: an informal group registers; an organisation outgrows "small" ------------
informal = next(s for s in small if s[2] == "unregistered")
emit("updateOrganisationProfile", organisationId=informal[0], registrationStatus="registered",
     bin=bin_for(400_000_001), annualBudgetEur="18000", staffCount=3, kind="publicAssociation")
grown = next(s for s in small if s[2] == "registered")
emit("updateOrganisationProfile", organisationId=grown[0], annualBudgetEur="240000", staffCount=22)

# --- A rules change in mid-2025: staff threshold raised to 15 -----------------------------
emit("setReportingRules", smallMaxAnnualBudgetEur="100000", smallMaxStaff=15)

# --- Second tranches and closing the earliest grant --------------------------------------------
for gid, call, start, end, envelope, cid, max_sub in grants[:3]:
    emit("disburseGrant", grantId=gid, amount="100000", paidOn=f"{int(start[:4]) + 1}-03-01")
emit("closeCall", callId="CSOLA-2024", closedOn="2024-06-30")
emit("closeCall", callId="EIDHR-2024", closedOn="2024-07-15")

# --- Reporting (docs/domain.md sections 8-10) ------------------------------------------------
# Two informal groups whose names are in Kazakh and Russian, reached by sub-grants in 2025.
emit("registerOrganisation", organisationId="CSO-43-ARAL-AYEL", name="Арал әйелдер бастамасы", country="KZ",
     regionCode="KZ-43", settlement="rural", registrationStatus="unregistered", leadershipGender="women",
     kind="informalGroup")
emit("registerOrganisation", organisationId="CSO-62-STEP", name="Инициативная группа «Степь» (Жезказган)",
     country="KZ", regionCode="KZ-62", settlement="rural", registrationStatus="unregistered",
     leadershipGender="mixed", kind="informalGroup")
open_in_2025 = sorted((g for g in grants if g[2] <= "2025-09-01" and g[3] >= "2025-12-31"),
                      key=lambda g: -room.get(g[0], 0))
host, second = open_in_2025[0][0], open_in_2025[1][0]
assert room[host] >= 13000 and room[second] >= 6000, "the sample's envelopes leave no room"
emit("awardSubGrant", subGrantId="SG-950", grantId=host, organisationId="CSO-43-ARAL-AYEL", awardedOn="2025-09-01",
     amount="8000", purpose="Қыздарға арналған цифрлық сауаттылық курстары")
emit("disburseSubGrant", subGrantId="SG-950", amount="8000", paidOn="2025-09-15")
emit("awardSubGrant", subGrantId="SG-951", grantId=second, organisationId="CSO-62-STEP", awardedOn="2025-10-15",
     amount="6000", purpose="Мониторинг качества питьевой воды в сёлах")

# Baseline and targets, set during implementation as the Roadmap foresees.
emit("setIndicatorTarget", targetId="I3-ROADMAP", indicator="I.3", **{"from": "2024-01-01"}, to="2026-12-31",
     baseline=0, baselineNote="No small CSO outside Astana and Almaty reached by EU funding before 2024 (baseline study)",
     target=90, minimumShares={"leadershipGender": {"women": "0.5"}, "settlement": {"rural": "0.4"},
                               "channel": {"subGrant": "0.6"}})
emit("setIndicatorTarget", targetId="I3-CSOLA", indicator="I.3", programme="CSO-LA", **{"from": "2024-01-01"},
     to="2026-12-31", target=60, minimumShares={"registrationStatus": {"unregistered": "0.3"}})

# The figure for 2025 sent to the EU Delegation, as the log stood after everything above
# (one event per command, so the position is the number of commands so far).
emit("signOffIndicatorReport", reportId="I3-2025-ANNUAL", indicator="I.3", **{"from": "2025-01-01"}, to="2025-12-31",
     position=counter, signedOffOn="2026-01-20", note="Annual report 2025 to the EU Delegation")

# What the log learns afterwards: a sub-grant of November 2025 recorded late, to a group
# reached for the first time, and the cancellation of SG-951 before its first payment.
emit("registerOrganisation", organisationId="CSO-61-SOZAK-JASTAR", name="Созақ жастар орталығы", country="KZ",
     regionCode="KZ-61", settlement="rural", registrationStatus="unregistered", leadershipGender="men",
     kind="informalGroup")
emit("awardSubGrant", subGrantId="SG-952", grantId=host, organisationId="CSO-61-SOZAK-JASTAR",
     awardedOn="2025-11-30", amount="5000", purpose="Youth debate club in Sozak district")
emit("cancelSubGrant", subGrantId="SG-951", cancelledOn="2026-02-01",
     reason="The group could not open a bank account to receive the funds")

# --- The rest of the results framework (docs/domain.md §12): a year and a half of
# activities by the EU Delegation and by the grantees, the three indices, and a retraction
# after the 2025 sign-off. Appended last, so that every position above stays what it was.
# A separate random stream, so that the programme above is the same as before.
arng = random.Random(2025)
participants = [oid for oid, _, _ in small]


def activity(aid, kind, started, organiser, grant=None, government=False, themes=(), region=None, people=None,
             count=3):
    fields = dict(activityId=aid, title=f"{kind} {aid}", startedOn=started, kind=kind, organiser=organiser,
                  withGovernment=government, themes=list(themes), participants=arng.sample(participants, count))
    if grant:
        fields["grantId"] = grant
    if region:
        fields["regionCode"] = region
    if people:
        fields["peopleSupported"] = people
    emit("recordActivity", **fields)


def inside(grant_start, grant_end, year, month):
    day = f"{year}-{month:02d}-15"
    return grant_start <= day <= grant_end


running = [(gid, start, end) for gid, call, start, end, envelope, cid, max_sub in grants]
eu = [
    ("ACT-EU-01", "dialogue", "2024-06-12", True, ["enablingEnvironment"], "KZ-71"),
    ("ACT-EU-02", "dialogue", "2025-02-20", True, ["enablingEnvironment", "csoSustainability"], "KZ-71"),
    ("ACT-EU-03", "policyDiscussion", "2024-11-05", False, ["goodGovernance"], None),
    ("ACT-EU-04", "policyDiscussion", "2025-05-14", True, ["humanRights"], "KZ-75"),
    ("ACT-EU-05", "capacityDevelopment", "2025-03-03", False, ["disinformation", "investigativeJournalism"], "KZ-61"),
    ("ACT-EU-06", "outreachInitiative", "2025-06-18", False, ["gender"], "KZ-43"),
    ("ACT-EU-07", "networkingInitiative", "2025-09-24", False, [], None),
]
for aid, kind, started, government, themes, region in eu:
    activity(aid, kind, started, "eu", government=government, themes=themes, region=region)
kinds = [
    ("dialogue", True, ["greenDeal", "goodGovernance"]), ("researchOrMonitoring", False, ["enablingEnvironment"]),
    ("participationInitiative", False, ["accountability"]), ("sustainabilityInitiative", False, ["csoSustainability"]),
    ("capacityDevelopment", False, ["beneficiaryInteraction", "socialServicesAdvocacy", "gender"]),
    ("outreachInitiative", False, ["gender"]), ("networkingInitiative", False, ["digitalisation"]),
    ("dialogue", True, ["csoSustainability", "humanRights"]),
]
number = 0
for gid, start, end in running:
    for year, month in [(2024, 10), (2025, 4), (2025, 9)]:
        if not inside(start, end, year, month):
            continue
        number += 1
        kind, government, themes = kinds[number % len(kinds)]
        region = REGIONS[number % len(REGIONS)][0] if number % 3 else None
        activity(f"ACT-{number:03d}", kind, f"{year}-{month:02d}-15", "grantee", grant=gid, government=government,
                 themes=themes, region=region, count=arng.randint(1, 5))
# Support to people at risk: counts only, never who they are.
for index, (gid, start, end) in enumerate(running[:3]):
    if inside(start, end, 2025, 7):
        activity(f"ACT-PS-{index + 1}", "protectionSupport", "2025-07-15", "grantee", grant=gid,
                 themes=["humanRights"], region="KZ-75", count=0,
                 people={"hrd": {"women": 2 + index, "men": 1, "undisclosed": 0},
                         "activist": {"women": 1, "men": index, "undisclosed": 1},
                         "journalist": {"women": 1, "men": 1, "undisclosed": 0}})
for index_id, values in [("civicusMonitor", [("2023", "27"), ("2024", "26"), ("2025", "28")]),
                         ("freedomInTheWorld", [("2023", "23"), ("2024", "23"), ("2025", "22")]),
                         ("enablingEnvironmentIndex", [("2023", "41.5"), ("2024", "43.25")])]:
    for year, value in values:
        rating = {"civicusMonitor": "Repressed", "freedomInTheWorld": "Not Free"}.get(index_id)
        extra = {"rating": rating} if rating else {}
        emit("recordIndexValue", indexId=index_id, year=int(year), value=value, source=f"{index_id} {year}", **extra)
# A revision, and a 2025 activity retracted after the 2025 figure was signed off.
emit("recordIndexValue", indexId="civicusMonitor", year=2025, value="27", rating="Repressed",
     source="civicusMonitor 2025, revised")
retracted_at = counter
emit("retractActivity", activityId="ACT-EU-07", retractedOn="2026-02-10",
     reason="Recorded twice: it is the same meeting as an activity of a grantee")
# §14: a target and a sign-off for another indicator. III.6 for 2025 was signed off as the
# log stood before the retraction (its position), so its restatement shows ACT-EU-07 removed.
emit("setIndicatorTarget", targetId="III6-ROADMAP", indicator="III.6", **{"from": "2024-01-01"}, to="2026-12-31",
     baseline=0, baselineNote="No networking initiative recorded before 2024", target=6)
emit("signOffIndicatorReport", reportId="III6-2025-ANNUAL", indicator="III.6", **{"from": "2025-01-01"},
     to="2025-12-31", position=retracted_at, signedOffOn="2026-01-20",
     note="Annual report 2025 to the EU Delegation (recorded late)")

print("\n".join(lines))
