import EventStore
import Foundation
import Hummingbird
import Logging

/// `--log-format json`: one JSON object per line on standard error, for log shippers:
/// `time` (RFC 3339, UTC, microseconds: `RecordingTime`), `level`, `message`, `label`, then the metadata —
/// for a request `request_id`, `method`, `route`, `status`, `duration_ms` and `actor`.
/// Values are strings but `status` and `duration_ms`, which are numbers.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let write: @Sendable (String) -> Void

    public init(label: String, write: @escaping @Sendable (String) -> Void = JSONLogHandler.standardError) {
        self.label = label
        self.write = write
    }

    public static let standardError: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data(line.utf8))
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Metadata keys renamed for readers of the lines; the others keep their names.
    static let names = ["hb.request.id": "request_id"]
    /// Keys whose values are written as JSON numbers when they are numbers.
    static let numbers: Set<String> = ["status", "duration_ms"]

    public func log(event: LogEvent) {
        let (level, message) = (event.level, event.message)
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { $1 } }
        if let explicit = event.metadata { all.merge(explicit) { $1 } }
        if let error = event.error { all["error"] = "\(error)" }
        var fields = [
            "\"time\":" + jsonQuoted(Self.now()), "\"level\":" + jsonQuoted(level.rawValue),
            "\"message\":" + jsonQuoted(message.description), "\"label\":" + jsonQuoted(label),
        ]
        for (key, value) in all.sorted(by: { $0.key < $1.key }) {
            let name = Self.names[key] ?? key
            let text = Self.text(value)
            let number = Self.numbers.contains(name) && Double(text) != nil && text.allSatisfy { $0.isASCII }
            fields.append(jsonQuoted(name) + ":" + (number ? text : jsonQuoted(text)))
        }
        write("{" + fields.joined(separator: ",") + "}\n")
    }

    static func text(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): return text
        case .stringConvertible(let value): return value.description
        case .array(let values): return "[" + values.map(text).joined(separator: ", ") + "]"
        case .dictionary(let values):
            return "{"
                + values.sorted { $0.key < $1.key }.map { "\($0.key): \(text($0.value))" }.joined(separator: ", ")
                + "}"
        }
    }

    static func now() -> String { RecordingTime(date: Date()).rfc3339 }
}

/// One log line per request once it is answered: method, route (the path pattern, never the
/// query string), status, duration and the token's name as actor. Replaces Hummingbird's
/// request logging, which logs before the answer and without its status.
struct AccessLogMiddleware: RouterMiddleware {
    typealias Context = LedgerRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            log(request, context, status: Int(response.status.code), start: start)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            log(request, context, status: Int(status), start: start)
            throw error
        }
    }

    private func log(_ request: Request, _ context: Context, status: Int, start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let milliseconds =
            Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        var metadata: Logger.Metadata = [
            "method": "\(request.method)", "route": "\(context.endpointPath ?? "unmatched")", "status": "\(status)",
            "duration_ms": "\((milliseconds * 1000).rounded() / 1000)",
        ]
        if let actor = context.notes.actor { metadata["actor"] = "\(actor)" }
        context.logger.info("request", metadata: metadata)
    }
}
