import GrantDomain

// The text and CSV renderings of sign-offs, restatements and progress: what an officer
// pastes into a report or opens in a spreadsheet.

extension I3Place {
    /// `KZ-43 women rural unregistered`.
    public var words: String {
        "\(regionCode) \(leadershipGender.rawValue) \(settlement.rawValue) \(registrationStatus.rawValue)"
    }
}

extension RestatementChange.Cause {
    /// `sub-grant S-77 awarded 2025-11-30, recorded 2026-02-03`.
    public var words: String {
        let recorded = "recorded " + recordedAt.prefix(10)
        switch type {
        case "SubGrantAwarded":
            return "sub-grant \(subGrantId ?? "?") awarded \(businessDate), \(recorded)"
        case "SubGrantCancelled":
            return "sub-grant \(subGrantId ?? "?") cancelled \(businessDate), \(recorded)"
        case "GrantAwarded":
            return "grant \(grantId ?? "?") awarded \(businessDate) to its consortium, \(recorded)"
        default:
            return "\(type) at position \(position) (\(businessDate)), \(recorded)"
        }
    }
}

extension RestatementChange {
    /// One line in words: `CSO-9 added: sub-grant S-77 awarded 2025-11-30, recorded 2026-02-03`.
    public var words: String {
        let what: String
        switch change {
        case .added: what = "added" + (now.map { " (\($0.words))" } ?? "")
        case .removed: what = "removed" + (was.map { " (was \($0.words))" } ?? "")
        case .moved: what = "moved from \(was?.words ?? "?") to \(now?.words ?? "?")"
        case .channels:
            let names = { (channels: [AccessChannel]?) in
                (channels ?? []).map(\.rawValue).joined(separator: " and ")
            }
            what = "channels \(names(wasChannels)) → \(names(nowChannels))"
        }
        return "\(organisationId) \(what): " + causes.map(\.words).joined(separator: "; ")
    }
}

private func signed(_ value: Int) -> String { value > 0 ? "+\(value)" : String(value) }

extension Restatement {
    /// The restatement for a report: the two figures, what moved in each margin, and one
    /// line per organisation that changed, in words.
    public var table: String {
        var out: [String] = []
        let scope =
            "\(indicator.rawValue), \(period.from) to \(period.to)"
            + (filters.programme.map { ", programme \($0)" } ?? "") + (filters.callId.map { ", call \($0)" } ?? "")
        out.append("Restatement of sign-off \(reportId) (\(scope))")
        out.append(
            "signed off \(signedOff.signedOffOn)" + (signedOff.actor.map { " by \($0)" } ?? "")
                + " at position \(signedOff.position): \(signedOff.total)")
        out.append(
            "now, at position \(current.position)" + (current.recordedAt.map { " (\($0))" } ?? "")
                + ": \(current.total) (\(signed(delta.total)))")
        let moved = delta.margins.flatMap { margin in
            margin.counts.filter { $0.count != 0 }.map { "\(margin.name).\($0.key) \(signed($0.count))" }
        }
        if !moved.isEmpty { out.append("delta: " + moved.joined(separator: ", ")) }
        out.append("")
        if changes.isEmpty {
            out.append("No organisation changed.")
        } else {
            out.append("\(changes.count) organisation\(changes.count == 1 ? "" : "s") changed:")
            out.append(contentsOf: changes.map(\.words))
        }
        return out.joined(separator: "\n") + "\n"
    }
}

extension I3Progress {
    /// One line per target, then one per minimum share.
    public var table: String {
        var out = [
            "Progress against targets, as of position \(asOf.position)"
                + (asOf.treeSize.map { " (tree \($0) leaves, root \(asOf.rootHash ?? ""))" } ?? "")
        ]
        if targets.isEmpty { out.append("No target is in force.") }
        for t in targets {
            out.append("")
            out.append(
                "\(t.targetId) (\(t.indicator.rawValue), \(t.programme ?? "all programmes"), \(t.period.from) to \(t.period.to))"
            )
            out.append(
                "  target \(t.target), actual \(t.actual), achieved \(t.achieved?.description ?? "n/a")"
                    + (t.baseline.map { ", baseline \($0)" } ?? ""))
            for (dimension, values) in t.shares.sorted(by: { $0.key < $1.key }) {
                for (value, share) in values.sorted(by: { $0.key < $1.key }) {
                    let actual = share.actual?.description ?? "n/a"
                    let flag = share.actual.map { $0.units < share.minimum.units ? "  below minimum" : "" } ?? ""
                    out.append("  \(dimension) \(value): minimum \(share.minimum), actual \(actual)\(flag)")
                }
            }
        }
        return out.joined(separator: "\n") + "\n"
    }

    /// One row per target and share (a target without shares has one row).
    public var csv: String {
        var lines = [
            [
                "targetId", "indicator", "programme", "from", "to", "baseline", "target", "actual", "achieved",
                "dimension", "value", "minimumShare", "actualShare",
            ].map(CSV.field).joined(separator: ",")
        ]
        for t in targets {
            let head = [
                t.targetId, t.indicator.rawValue, t.programme ?? "", t.period.from.description,
                t.period.to.description, t.baseline.map(String.init) ?? "", String(t.target), String(t.actual),
                t.achieved?.description ?? "",
            ]
            let shares = t.shares.sorted { $0.key < $1.key }.flatMap { dimension, values in
                values.sorted { $0.key < $1.key }.map {
                    [dimension, $0.key, $0.value.minimum.description, $0.value.actual?.description ?? ""]
                }
            }
            for share in shares.isEmpty ? [["", "", "", ""]] : shares {
                lines.append((head + share).map(CSV.field).joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// The sign-offs as a table or CSV.
public enum SignOffList {
    public static func table(_ records: [SignOffRecord]) -> String {
        if records.isEmpty { return "No sign-off recorded.\n" }
        return records.map { r in
            let s = r.base
            let filters = (s.programme.map { ", programme \($0)" } ?? "") + (s.callId.map { ", call \($0)" } ?? "")
            let value = r.base.extras.figures.value.map { "  \(s.indicator == .i3 ? "total" : "value") \($0)" } ?? ""
            let by = r.recorded.actor.map { " by \($0)" } ?? ""
            return "\(s.reportId)  \(s.indicator.rawValue) \(s.from) to \(s.to)" + filters
                + "\(value) at position \(s.position)  signed off \(s.signedOffOn)" + by
        }.joined(separator: "\n") + "\n"
    }

    public static func csv(_ records: [SignOffRecord]) -> String {
        var lines = ["reportId,indicator,from,to,programme,callId,position,hash,total,signedOffOn,actor,note"]
        for r in records {
            let s = r.base.base
            let value = r.base.extras.figures.value.map(String.init) ?? ""
            lines.append(
                [
                    s.reportId, s.indicator.rawValue, s.from.description, s.to.description, s.programme ?? "",
                    s.callId ?? "", String(s.position), r.base.extras.asOf.hash, value,
                    s.signedOffOn.description, r.recorded.actor ?? "", s.note ?? "",
                ].map(CSV.field).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension Restatement {
    /// CSV for spreadsheets: the delta of the total and of every margin key, then one row per
    /// organisation that changed, with where it was and is now and the positions that caused it.
    public var csv: String {
        var lines = [
            [
                "Section", "Key", "Organisation", "Change", "Delta", "Was region", "Was leadership gender",
                "Was settlement", "Was registration status", "Now region", "Now leadership gender", "Now settlement",
                "Now registration status", "Was channels", "Now channels", "Caused by positions",
            ].map(CSV.field).joined(separator: ",")
        ]
        func place(_ place: I3Place?) -> [String] {
            guard let place else { return ["", "", "", ""] }
            return [
                place.regionCode, place.leadershipGender.rawValue, place.settlement.rawValue,
                place.registrationStatus.rawValue,
            ]
        }
        let blank = [String](repeating: "", count: 11)
        lines.append((["Delta", "total", "", "", String(delta.total)] + blank).map(CSV.field).joined(separator: ","))
        for margin in delta.margins {
            for (key, count) in margin.counts {
                lines.append(
                    (["Delta", "\(margin.name).\(key)", "", "", String(count)] + blank).map(CSV.field)
                        .joined(separator: ","))
            }
        }
        for change in changes {
            let cells =
                ["Change", "", change.organisationId, change.change.rawValue, ""] + place(change.was)
                + place(change.now)
                + [
                    (change.wasChannels ?? []).map(\.rawValue).joined(separator: " "),
                    (change.nowChannels ?? []).map(\.rawValue).joined(separator: " "),
                    change.causes.map { String($0.position) }.joined(separator: " "),
                ]
            lines.append(cells.map(CSV.field).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension IndicatorRestatement.Change {
    /// The change's subject (`A-17`, `CSO-9`, `fiw 2024`), its kind, and what it was and is.
    var parts: (subject: String, change: String, was: String, now: String, causes: [IndicatorRestatement.Cause]) {
        func cell(_ c: IndicatorRestatement.OrganisationCell?) -> String {
            guard let c else { return "" }
            return [
                c.regionCode ?? "no region", c.settlement?.rawValue ?? "no settlement", c.registrationStatus.rawValue,
            ]
            .joined(separator: " ")
        }
        func point(_ p: IndicatorFigures.IndexPoint?) -> String {
            p.map { $0.value + ($0.rating.map { " (\($0))" } ?? "") } ?? ""
        }
        switch self {
        case .activity(let a): return (a.activityId, a.change, "", "", a.causes)
        case .organisation(let o): return (o.organisationId, o.change, cell(o.was), cell(o.now), o.causes)
        case .indexValue(let i):
            return (
                "\(i.indexId.rawValue) \(i.year)", i.was == nil ? "added" : "revised", point(i.was), point(i.now),
                i.causes
            )
        }
    }
}

extension IndicatorRestatement {
    /// The two values, the delta of every key that moved, and one line per change in words.
    public var table: String {
        var out: [String] = []
        let scope =
            "\(indicator.rawValue), \(period.from) to \(period.to)"
            + (filters.programme.map { ", programme \($0)" } ?? "") + (filters.callId.map { ", call \($0)" } ?? "")
        out.append("Restatement of sign-off \(reportId) (\(scope))")
        out.append(
            "signed off \(signedOff.signedOffOn)" + (signedOff.actor.map { " by \($0)" } ?? "")
                + " at position \(signedOff.position)" + (signedOff.value.map { ": \($0)" } ?? ""))
        out.append(
            "now, at position \(current.position)" + (current.recordedAt.map { " (\($0))" } ?? "")
                + (current.value.map { ": \($0)" } ?? "")
                + (delta.map { " (\($0.value > 0 ? "+" : "")\($0.value))" } ?? ""))
        if let delta {
            let moved = delta.disaggregations.flatMap { name, counts in
                counts.sorted { $0.key < $1.key }.filter { $0.value != 0 }.map {
                    "\(name).\($0.key) \($0.value > 0 ? "+" : "")\($0.value)"
                }
            }
            if !moved.isEmpty { out.append("delta: " + moved.joined(separator: ", ")) }
        }
        out.append("")
        if changes.isEmpty { out.append("Nothing changed.") }
        for change in changes {
            let p = change.parts
            let fromTo =
                p.was.isEmpty && p.now.isEmpty
                ? "" : " (\(p.was.isEmpty ? "-" : p.was) → \(p.now.isEmpty ? "-" : p.now))"
            let causes = p.causes.map { c in
                "\(c.type) at position \(c.position)" + (c.businessDate.map { " (\($0))" } ?? "")
                    + ", recorded \(c.recordedAt.prefix(10))"
            }
            out.append("\(p.subject) \(p.change)\(fromTo): " + causes.joined(separator: "; "))
        }
        return out.joined(separator: "\n") + "\n"
    }

    /// CSV: the delta of the value and of every key, then one row per change.
    public var csv: String {
        var rows = [["Section", "Key", "Subject", "Change", "Delta", "Was", "Now", "Caused by positions"]]
        if let delta {
            rows.append(["Delta", "value", "", "", String(delta.value), "", "", ""])
            for (name, counts) in delta.disaggregations {
                for (key, count) in counts.sorted(by: { $0.key < $1.key }) {
                    rows.append(["Delta", "\(name).\(key)", "", "", String(count), "", "", ""])
                }
            }
            for cell in delta.cells ?? [] {
                rows.append(["Delta", "cells.\(cell.group).\(cell.gender)", "", "", String(cell.count), "", "", ""])
            }
        }
        for change in changes {
            let p = change.parts
            rows.append(
                [
                    "Change", "", p.subject, p.change, "", p.was, p.now,
                    p.causes.map { String($0.position) }.joined(separator: " "),
                ])
        }
        return rows.map { $0.map(CSV.field).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }
}
