import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// `http://HOST[:PORT][/PREFIX]`: plain HTTP only (a server on this machine, or one reached
/// through the deployment's own TLS proxy).
public struct PlainHTTPURL: Equatable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// The path the request paths are appended to, without a trailing `/`.
    public var prefix: String

    public init?(_ text: String) {
        guard text.utf8.count <= 2048, let components = URLComponents(string: text),
            components.scheme?.lowercased() == "http", let host = components.host, !host.isEmpty,
            components.query == nil, components.fragment == nil, components.user == nil
        else { return nil }
        let port = components.port ?? 80
        guard (1...65535).contains(port) else { return nil }
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        self.port = port
        prefix =
            components.percentEncodedPath.hasSuffix("/")
            ? String(components.percentEncodedPath.dropLast()) : components.percentEncodedPath
    }

    public var description: String {
        "http://\(host.contains(":") ? "[\(host)]" : host):\(port)\(prefix)"
    }
}

/// One answer.
public struct PlainHTTPAnswer: Sendable {
    public var status: Int
    public var contentType: String?
    public var body: [UInt8]
}

public struct PlainHTTPError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// A minimal HTTP/1.1 client over SwiftNIO: one request per connection, a deadline on the
/// whole exchange, a bound on the answer's size.
public enum PlainHTTPClient {
    public static func request(
        _ method: HTTPMethod, _ url: PlainHTTPURL, path: String, headers: [(String, String)] = [],
        body: [UInt8]? = nil, maxBody: Int, timeout: TimeAmount = .seconds(30)
    ) async throws -> PlainHTTPAnswer {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(min(timeout, .seconds(10)))
            .connect(host: url.host, port: url.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        // Past the deadline the connection is closed, which ends the exchange below.
        let deadline = channel.channel.eventLoop.scheduleTask(in: timeout) { channel.channel.close(promise: nil) }
        defer { deadline.cancel() }
        return try await channel.executeThenClose { inbound, outbound in
            var head = HTTPRequestHead(version: .http1_1, method: method, uri: url.prefix + path)
            head.headers.add(name: "Host", value: url.port == 80 ? url.host : "\(url.host):\(url.port)")
            for (name, value) in headers { head.headers.add(name: name, value: value) }
            head.headers.add(name: "Connection", value: "close")
            if let body { head.headers.add(name: "Content-Length", value: String(body.count)) }
            // A server may answer and close before the request is all written: a refusal of a
            // body too large, or an answer to a complete request that arrives before the
            // client's end of it. A failed write is then not the exchange's outcome: the
            // answer already received is, and the write's error only when there is none.
            var writeError: (any Error)?
            do {
                try await outbound.write(.head(head))
                if let body { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
                try await outbound.write(.end(nil))
            } catch {
                writeError = error
            }
            var status = 0
            var contentType: String?
            var received = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let answer):
                    status = Int(answer.status.code)
                    contentType = answer.headers.first(name: "Content-Type")
                case .body(var chunk):
                    guard received.readableBytes + chunk.readableBytes <= maxBody else {
                        throw PlainHTTPError("the answer is larger than \(maxBody) bytes")
                    }
                    received.writeBuffer(&chunk)
                case .end:
                    return PlainHTTPAnswer(status: status, contentType: contentType, body: Array(buffer: received))
                }
            }
            throw writeError
                ?? PlainHTTPError("the connection closed before the answer ended (or the deadline passed)")
        }
    }
}
