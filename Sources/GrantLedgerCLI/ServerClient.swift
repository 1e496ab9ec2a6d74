import ArgumentParser
import Foundation
import NIOCore
import Witnessing

/// A running `grantledger serve` that a report may ask instead of the database
/// (`--server URL`, else `GRANTLEDGER_SERVER_URL`): the server keeps the period index in
/// memory, so a process per report answers without rebuilding it.
struct ServerOptions: ParsableArguments {
    @Option(
        name: .customLong("server"),
        help: ArgumentHelp(
            "Ask this running server (http://HOST:PORT) instead of the database.",
            discussion: """
                Default: GRANTLEDGER_SERVER_URL. The token is read from --token-file, else \
                GRANTLEDGER_TOKEN; any role that may read the figure will do.
                """))
    var serverURL: String?
    @Option(help: "A file (mode 600) holding the server's bearer token.") var tokenFile: String?

    /// The server to ask, if any.
    func server() throws -> ServerClient? {
        guard let text = serverURL ?? ProcessInfo.processInfo.environment["GRANTLEDGER_SERVER_URL"], !text.isEmpty
        else { return nil }
        guard let url = ServerURL(text) else {
            throw ValidationError("--server \(text) is not an http://HOST[:PORT] address")
        }
        let token: String? =
            if let tokenFile {
                try readSecretFile(tokenFile, "the token file").trimmingCharacters(in: .whitespacesAndNewlines)
            } else {
                ProcessInfo.processInfo.environment["GRANTLEDGER_TOKEN"]
            }
        guard let token, !token.isEmpty else {
            throw ValidationError("--server needs a token: --token-file FILE or GRANTLEDGER_TOKEN")
        }
        guard token.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw ValidationError("the token holds characters a bearer token cannot")
        }
        return ServerClient(url: url, token: token)
    }
}

/// `http://HOST[:PORT][/PREFIX]`: plain HTTP only (a server on this machine or behind the
/// deployment's own TLS proxy is asked from inside it).
typealias ServerURL = PlainHTTPURL

/// One server's answer.
struct ServerAnswer {
    var status: Int
    var body: [UInt8]

    /// The §5 error body's message, else the body as text.
    var message: String {
        let text = String(decoding: body.prefix(4096), as: UTF8.self)
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let message = object["message"] as? String
        else { return text }
        return message
    }
}

/// A running server's API: one GET per connection (`PlainHTTPClient`).
struct ServerClient {
    let url: ServerURL
    let token: String
    /// An answer larger than this is refused (a report is a few kilobytes).
    static let maxBody = 64 << 20

    /// GETs `path` with `query` (each value percent-encoded).
    func get(_ path: String, query: [(String, String)], accept: String) async throws -> ServerAnswer {
        let target =
            path
            + (query.isEmpty
                ? "" : "?" + query.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&"))
        let answer = try await PlainHTTPClient.request(
            .GET, url, path: target, headers: [("Accept", accept), ("Authorization", "Bearer \(token)")],
            maxBody: Self.maxBody, timeout: .seconds(600))
        return ServerAnswer(status: answer.status, body: answer.body)
    }

    /// Percent-encodes all but RFC 3986's unreserved characters.
    static func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default: out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}

/// Runs a request to the server, turning its refusals into the CLI's exit codes: 400 → 10,
/// 404 → 11, 401 and 403 → 10 (the token), anything else or no answer → 20.
func withServer(_ body: () async throws -> ServerAnswer) async throws -> [UInt8] {
    let answer: ServerAnswer
    do {
        answer = try await body()
    } catch {
        printError("error: the server did not answer: \(error)")
        throw ExitCode(ExitStatus.database)
    }
    switch answer.status {
    case 200: return answer.body
    case 400:
        printError("error: \(answer.message)")
        throw ExitCode(ExitStatus.invalid)
    case 401, 403:
        printError("error: the server refused the token: \(answer.message)")
        throw ExitCode(ExitStatus.invalid)
    case 404:
        printError("error: \(answer.message)")
        throw ExitCode(ExitStatus.notFound)
    default:
        printError("error: the server answered \(answer.status): \(answer.message)")
        throw ExitCode(ExitStatus.database)
    }
}
