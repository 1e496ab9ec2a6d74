import Foundation
import GrantDomain

/// The command path's and the readers' JSON work, in process: the project's coders beside
/// Foundation's doing the same job on the sample programme's commands and their events.
/// Rows of a Markdown table.
func coderRows(rounds: Int = 20) throws -> [String] {
    let file = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        .appendingPathComponent("deploy/sample/programme.jsonl")
    let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n").map(String.init)
    let requests = try lines.map { try CommandRequest.parse($0) }
    // Each command's event data as it is stored (the payload for every command but the three
    // whose events add derived fields, left out here as they need the history).
    let events: [(type: String, data: String, payload: any CommandPayload.Type)] = requests.compactMap { request in
        let payload = type(of: request.command.payload)
        guard ["GrantAwarded", "SubGrantAwarded", "IndicatorReportSignedOff"].contains(payload.spec.event) == false
        else { return nil }
        return (
            payload.spec.event, request.command.canonicalPayload.drop { $0 != ":" }.dropFirst().description, payload
        )
    }

    func rate(_ count: Int, _ body: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        for _ in 0..<rounds { try body() }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Double(count * rounds) / seconds
    }

    // Commands: parse, check and decode, then the idempotency digest's canonical text.
    let projectCommands = try rate(lines.count) {
        for line in lines {
            let request = try CommandRequest.parse(line)
            _ = request.command.canonicalPayload
        }
    }
    let foundationCommands = try rate(lines.count) {
        for line in lines {
            let value = try JSONDecoder().decode(JSONValue.self, from: Data(line.utf8))
            guard case .object(var fields) = value, case .string(let name)? = fields["command"],
                let payload = CommandTable.payload(named: name)
            else { continue }
            fields["command"] = nil
            fields["commandId"] = nil
            let typed = try JSONDecoder().decode(
                payload, from: try ResponseJSON.encoder.encode(JSONValue.object(fields)))
            _ = try ResponseJSON.encoder.encode(typed)
        }
    }
    // Events: decode the stored text, as catch-up, replay and the memory do.
    let projectEvents = try rate(events.count) {
        for event in events { _ = try DomainEvent.decode(type: event.type, data: event.data) }
    }
    let foundationEvents = try rate(events.count) {
        // As the generated decoder did before: sealed texts made readable, then Foundation.
        let decoder = JSONDecoder()
        for event in events {
            let readable = PersonalData.readable(type: event.type, data: event.data)
            _ = try decoder.decode(event.payload, from: Data(readable.utf8))
        }
    }
    // Events: each command's payload written as stored event data.
    let payloads = requests.map { $0.command.payload }
    let projectEncoded = try rate(payloads.count) {
        for payload in payloads { _ = try CanonicalJSON.bytes(payload) }
    }
    let foundationEncoded = try rate(payloads.count) {
        for payload in payloads { _ = try ResponseJSON.encoder.encode(payload) }
    }
    func format(_ value: Double) -> String { String(Int(value.rounded())) }
    func ratio(_ a: Double, _ b: Double) -> String { String(format: "%.1f×", a / b) }
    return [
        "| JSON work of \(lines.count) sample commands | project's coders | Foundation | ratio |",
        "|---|---:|---:|---:|",
        "| commands parsed, checked, decoded and digested, /s | \(format(projectCommands)) | \(format(foundationCommands)) | \(ratio(projectCommands, foundationCommands)) |",
        "| stored events decoded, /s | \(format(projectEvents)) | \(format(foundationEvents)) | \(ratio(projectEvents, foundationEvents)) |",
        "| event data encoded, /s | \(format(projectEncoded)) | \(format(foundationEncoded)) | \(ratio(projectEncoded, foundationEncoded)) |",
    ]
}
