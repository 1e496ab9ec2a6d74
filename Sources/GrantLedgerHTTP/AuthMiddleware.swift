import Hummingbird

/// Resolves `Authorization: Bearer <token>` to the caller's identity. A request without
/// the header goes on anonymous (the public routes answer it; `RequireRole` refuses it
/// everywhere else); a header that names no live token is refused at once.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = LedgerRequestContext
    let tokens: TokenCache

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard let header = request.headers[.authorization] else {
            return try await next(request, context)
        }
        guard header.hasPrefix("Bearer ") else {
            throw APIError.unauthorized("send Authorization: Bearer <token>")
        }
        let secret = String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
        guard let identity = try await tokens.identify(secret: secret) else {
            throw APIError.unauthorized("unknown or revoked token")
        }
        var context = context
        context.identity = identity
        context.notes.actor = identity.name
        context.logger[metadataKey: "auth.token.name"] = .string(identity.name)
        return try await next(request, context)
    }
}

/// Admits only callers with one of `roles`: 401 without a token, 403 with another role.
/// Every route group but the public one carries one (`RouteRegistry.group`).
struct RequireRole: RouterMiddleware {
    typealias Context = LedgerRequestContext
    let roles: [Role]

    init(_ roles: [Role]) { self.roles = roles }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let identity = try context.requireIdentity()
        guard roles.contains(identity.role) else {
            throw APIError.forbidden("role \(identity.role.rawValue) may not do this")
        }
        return try await next(request, context)
    }
}

extension LedgerRequestContext {
    /// The caller, or 401 when the request carries no token.
    func requireIdentity() throws -> Identity {
        guard let identity else { throw APIError.unauthorized("send Authorization: Bearer <token>") }
        return identity
    }
}
