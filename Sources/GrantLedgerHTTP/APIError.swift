import EventStore
import Exports
import GrantDomain
import HTTPTypes
import Hummingbird
import Ledger
import NIOCore
import PostgresClient

/// An error answered with the docs/domain.md §5 body `{"error": {"code", "message"}}`;
/// Hummingbird turns it into that response by itself (`HTTPResponseError`).
public struct APIError: Error, Sendable, HTTPResponseError {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    static func unauthorized(_ message: String) -> APIError { APIError(.unauthorized, "unauthorized", message) }
    static func forbidden(_ message: String) -> APIError { APIError(.forbidden, "forbidden", message) }
    static func invalid(_ message: String) -> APIError { APIError(.badRequest, "invalid", message) }
    static func notFound(_ message: String) -> APIError { APIError(.notFound, "notFound", message) }

    /// Extra headers, e.g. `Allow` on 405 or `Retry-After` on 429 and 503.
    var headers: HTTPFields = [:]

    var rendered: Response {
        var response = jsonResponse(status, ResponseJSON.text(ErrorBody(code: code, message: message)))
        for field in headers { response.headers.append(field) }
        return response
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response { rendered }
}

extension DomainError {
    /// 400 invalid, 404 notFound, 409 alreadyExists and conflict, 422 ruleViolated,
    /// 503 outcomeUnknown.
    var apiError: APIError {
        let status: HTTPResponse.Status
        switch code {
        case .invalid: status = .badRequest
        case .notFound: status = .notFound
        case .alreadyExists, .conflict: status = .conflict
        case .ruleViolated: status = .unprocessableContent
        case .outcomeUnknown: status = .serviceUnavailable
        }
        return APIError(status, code.rawValue, message)
    }
}

/// A JSON response.
func jsonResponse(_ status: HTTPResponse.Status, _ body: String) -> Response {
    Response(
        status: status, headers: [.contentType: "application/json; charset=utf-8"],
        body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
}

/// Turns every error into a JSON response, mapping domain and database errors; logs the
/// unexpected ones without request data.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.rendered
        } catch let error as DomainError {
            return error.apiError.rendered
        } catch let error as CutOffError {
            return APIError.notFound(error.description).rendered
        } catch EventStoreError.wrongExpectedVersion(let message), EventStoreError.commandIDReused(let message) {
            return APIError(.conflict, "conflict", message).rendered
        } catch is NIOTooManyBytesError {
            return APIError(
                .contentTooLarge, "payloadTooLarge", "the request body exceeds \(ServerLimits.maxBodyBytes) bytes"
            )
            .rendered
        } catch let error as PostgresError {
            return Self.database(error, context: context)
        } catch EventStoreError.database(let error) {
            return Self.database(error, context: context)
        } catch let error as any HTTPResponseError {
            if error.status == .notFound, let allowed = KnownRoutes.shared.methods(forPath: request.uri.path),
                !allowed.isEmpty,
                !allowed.contains(request.method)
            {
                var refusal = APIError(
                    .methodNotAllowed, "methodNotAllowed",
                    "\(request.method.rawValue) is not supported on \(request.uri.path)")
                refusal.headers[.allow] = allowed.map(\.rawValue).sorted().joined(separator: ", ")
                return refusal.rendered
            }
            if error.status.code >= 500 {
                context.logger.error("unexpected HTTP error", metadata: ["http.status": "\(error.status.code)"])
            }
            return APIError(error.status, error.status == .notFound ? "notFound" : "invalid", error.status.reasonPhrase)
                .rendered
        } catch {
            context.logger.error("unexpected error", metadata: ["error.type": "\(type(of: error))"])
            return APIError(.internalServerError, "internal", "internal error").rendered
        }
    }

    static func database(_ error: PostgresError, context: Context) -> Response {
        if error.kind == .invalidParameter {
            return APIError.invalid("a value holds U+0000, which no field or parameter may contain").rendered
        }
        if error.isUnavailable {
            context.logger.warning("database unavailable", metadata: ["db.error.kind": "\(error.kind.rawValue)"])
            return APIError(.serviceUnavailable, "unavailable", "the database is unavailable; try again shortly")
                .rendered
        }
        context.logger.error(
            "database error",
            metadata: ["db.sqlstate": "\(error.sqlState ?? "")", "db.error.kind": "\(error.kind.rawValue)"])
        return APIError(.internalServerError, "internal", "internal error").rendered
    }
}

/// Headers every answer carries: no content sniffing (a JSON or CSV answer is never run as
/// a page), and the pages' content security policy (nothing runs, no form posts, no frame).
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var response = try await next(request, context)
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.contentSecurityPolicy] = contentSecurityPolicy + "; frame-ancestors 'none'"
        return response
    }
}
