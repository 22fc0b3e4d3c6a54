@testable import DiffuseStudio
import Foundation
import HTTPTypes
import Hummingbird
import XCTest

final class ValidationAndSecurityTests: XCTestCase {
    func testBadParametersAreClear400s() async throws {
        let t = try TestStudio()
        defer { t.shutdown() }
        try await t.test { client in
            let cases: [([String: Any], HTTPResponse.Status, String?, String)] = [
                (["prompt": "x", "steps": 0], .badRequest, "steps", "steps must be between 1 and 1000"),
                (["prompt": "x", "width": 33], .badRequest, "width", "width must be a multiple of 8"),
                (["prompt": "x", "cfg_scale": -1], .badRequest, "cfg_scale", "cfg_scale must be 0 or more"),
                (["prompt": "x", "sampler": "magic"], .badRequest, "sampler", "unknown sampler 'magic'"),
                (["prompt": "x", "strength": 0.5], .badRequest, "strength", "strength needs init_image"),
                (["prompt": "x", "batch_size": 99], .badRequest, "batch_size", "batch_size must be between 1 and 16"),
                (["prompt": "x", "preview_decoder": "bogus"], .badRequest, "preview_decoder", "preview_decoder must be \"approx\" or \"vae\""),
                (["prompt": "x", "model": "../sd1"], .notFound, "model", "unknown model '../sd1'"),
                (["prompt": "x", "init_image": "not base64 at all!"], .badRequest, "init_image", "init_image"),
                (["prompt": 5], .badRequest, "prompt", "wrong type"),
                ([:], .badRequest, "prompt", "missing field 'prompt'"),
            ]
            for (body, status, param, message) in cases {
                let r = try await client.post("/api/jobs", json: body)
                XCTAssertEqual(r.status, status, "\(body): \(r.text)")
                XCTAssertEqual(r.errorParam, param, "\(body): \(r.text)")
                XCTAssertTrue(r.errorMessage.contains(message), "\(body): \(r.errorMessage)")
                XCTAssertFalse(r.errorMessage.contains("\n"))
            }
            let notJSON = try await client.executeRequest(uri: "/api/jobs", method: .post, headers: [:],
                                                          body: ByteBuffer(string: "{nope"))
            XCTAssertEqual(notJSON.status, .badRequest)
            XCTAssertEqual(notJSON.errorMessage, "the request body is not valid JSON")
        }
    }

    func testOversizedBodyIsRefused() async throws {
        let t = try TestStudio()
        defer { t.shutdown() }
        try await t.test { client in
            let big = String(repeating: "a", count: 33 * 1024 * 1024)   // over the 32 MiB limit
            let r = try await client.post("/api/jobs", json: ["prompt": big])
            XCTAssertEqual(r.status, .contentTooLarge)
        }
    }

    func testAPIKeyIsCheckedOnEveryEndpoint() async throws {
        let t = try TestStudio(apiKey: "s3cret")
        defer { t.shutdown() }
        try await t.test { client in
            for path in ["/", "/api/gallery", "/api/models", "/sdapi/v1/sd-models", "/v1/models", "/api/jobs/x"] {
                let r7 = try await client.get(path)
                XCTAssertEqual(r7.status, .unauthorized, path)
                let r8 = try await client.get(path, headers: [.authorization: "Bearer wrong"])
                XCTAssertEqual(r8.status, .unauthorized, path)
            }
            let r9 = try await client.get("/api/models", headers: [.authorization: "Bearer s3cret"])
            XCTAssertEqual(r9.status, .ok)
            let basic = "Basic " + Data("user:s3cret".utf8).base64EncodedString()   // A1111 clients' --api-auth form
            let r10 = try await client.get("/sdapi/v1/sd-models", headers: [.authorization: basic])
            XCTAssertEqual(r10.status, .ok)
            let r11 = try await client.get("/api/models", headers: [.cookie: "diffuse_key=s3cret"])
            XCTAssertEqual(r11.status, .ok)
            let login = try await client.get("/?key=s3cret")
            XCTAssertEqual(login.status, .seeOther)
            XCTAssertTrue(login.headers[.setCookie]?.contains("HttpOnly") == true)
        }
    }

    func testCrossSiteStateChangesAreRefused() async throws {
        let t = try TestStudio()
        defer { t.shutdown() }
        try await t.test { client in
            let body: [String: Any] = ["prompt": "x", "steps": 0]   // invalid on purpose: reaching validation = allowed
            let evil = try await client.post("/api/jobs", json: body, headers: [.origin: "http://evil.example"])
            XCTAssertEqual(evil.status, .forbidden)
            let fetchSite = try await client.post("/api/jobs", json: body, headers: [.secFetchSite: "cross-site"])
            XCTAssertEqual(fetchSite.status, .forbidden)
            let r12 = try await client.delete("/api/gallery/abc", headers: [.secFetchSite: "same-site"])
            XCTAssertEqual(r12.status, .forbidden)
            let same = try await client.post("/api/jobs", json: body, headers: [.secFetchSite: "same-origin"])
            XCTAssertEqual(same.status, .badRequest)
            // Reading is allowed cross-site (the page's data is not secret from the user's own browser).
            let r13 = try await client.get("/api/models", headers: [.origin: "http://evil.example"])
            XCTAssertEqual(r13.status, .ok)
        }
    }

    func testStaticFilesOnlyFromTheAssetsFolder() async throws {
        let t = try TestStudio()
        defer { t.shutdown() }
        try await t.test { client in
            let page = try await client.get("/")
            XCTAssertEqual(page.status, .ok)
            XCTAssertTrue(page.headers[.contentType]?.hasPrefix("text/html") == true)
            for bad in ["/assets/..%2F..%2FPackage.swift", "/assets/.hidden.js", "/assets/nothing.js", "/assets/x.sqlite"] {
                let r14 = try await client.get(bad)
                XCTAssertEqual(r14.status, .notFound, bad)
            }
        }
    }

    func testSamplerNamesAcceptCLIAndA1111Forms() throws {
        XCTAssertEqual(try JobParameters.samplerName("Euler a"), "euler-a")
        XCTAssertEqual(try JobParameters.samplerName("k_euler_a"), "euler-a")
        XCTAssertEqual(try JobParameters.samplerName("DPM++ 2M Karras"), "dpm++2m-karras")
        XCTAssertEqual(try JobParameters.samplerName("euler"), "euler")
        XCTAssertThrowsError(try JobParameters.samplerName("DPM fast"))
    }
}
