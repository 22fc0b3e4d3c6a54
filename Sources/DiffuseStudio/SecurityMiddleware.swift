// Every request passes here first. With an API key (required with --listen): the key must come as
// `Authorization: Bearer KEY` (OpenAI clients), HTTP Basic with KEY as the password (A1111 clients),
// `X-API-Key: KEY`, or the `diffuse_key` cookie the page gets by opening `/?key=KEY` once.
// State-changing requests from another site are refused (Origin / Sec-Fetch-Site), so a web page the user
// visits cannot queue jobs or delete images through the user's browser, key or no key.

import Foundation
import HTTPTypes
import Hummingbird

struct SecurityMiddleware: RouterMiddleware {
    typealias Context = StudioContext
    let apiKey: String?

    func handle(_ request: Request, context: StudioContext,
                next: (Request, StudioContext) async throws -> Response) async throws -> Response {
        if let apiKey {
            if request.uri.path == "/", let given = request.uri.queryParameters["key"].map(String.init) {
                guard Self.same(given, apiKey) else { return Self.error(.unauthorized, "wrong API key") }
                var headers = HTTPFields()
                headers[.location] = "/"
                headers[.setCookie] = "diffuse_key=\(Self.cookieSafe(apiKey)); Path=/; HttpOnly; SameSite=Strict"
                return Response(status: .seeOther, headers: headers)
            }
            guard Self.presentedKeys(request).contains(where: { Self.same($0, apiKey) }) else {
                var r = Self.error(.unauthorized, "an API key is required: send 'Authorization: Bearer KEY' (or open /?key=KEY in the browser)")
                r.headers[.wwwAuthenticate] = "Bearer"
                return r
            }
        }
        if request.method != .get && request.method != .head && request.method != .options,
           let reason = Self.crossSiteReason(request) {
            return Self.error(.forbidden, reason)
        }
        return try await next(request, context)
    }

    static func presentedKeys(_ request: Request) -> [String] {
        var keys: [String] = []
        if let auth = request.headers[.authorization] {
            if auth.lowercased().hasPrefix("bearer ") { keys.append(String(auth.dropFirst(7)).trimmingCharacters(in: .whitespaces)) }
            if auth.lowercased().hasPrefix("basic "),
               let data = Data(base64Encoded: String(auth.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
               let pair = String(data: data, encoding: .utf8), let colon = pair.firstIndex(of: ":") {
                keys.append(String(pair[pair.index(after: colon)...]))
            }
        }
        if let k = request.headers[.xAPIKey] { keys.append(k) }
        for cookie in request.headers[values: .cookie].flatMap({ $0.split(separator: ";") }) {
            let part = cookie.trimmingCharacters(in: .whitespaces)
            if part.hasPrefix("diffuse_key=") { keys.append(String(part.dropFirst(12)).removingPercentEncoding ?? "") }
        }
        return keys
    }

    /// Why a state-changing request looks cross-site, or nil. Requests without these headers (scripts, SDKs)
    /// pass: only browsers send them, and browsers always send them on cross-origin requests.
    static func crossSiteReason(_ request: Request) -> String? {
        if let site = request.headers[.secFetchSite]?.lowercased(), site != "same-origin", site != "none" {
            return "cross-site request refused (Sec-Fetch-Site: \(site)); use the page served by this server"
        }
        guard let origin = request.headers[.origin] else { return nil }   // "null" origins fail the host check
        guard let host = request.head.authority else {
            return "cross-site request refused (Origin without Host)"
        }
        let originHost = origin.components(separatedBy: "://").last ?? origin
        guard originHost.lowercased() == host.lowercased() else {
            return "cross-site request refused (Origin \(origin) is not this server)"
        }
        return nil
    }

    /// Constant-time comparison, so response timing does not reveal how much of a guess was right.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var diff = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) { diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0) }
        return diff == 0
    }

    static func cookieSafe(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        Reply.object(["error": ["message": message, "type": "invalid_request_error", "code": status.code]], status: status)
    }
}
