import Contracts
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LedgerCore
import NIOCore
import Node
@testable import Portal
import Server
import Services
import Storage
import Testing
import Vault

/// The portal's routes in process: security headers, sign-in both ways through `POST /auth/token`'s
/// checks, CSRF on every form, sessions, and the explorer showing what `/v1` shows.
@Suite("Portal: sign-in, sessions, CSRF, headers and the explorer", .serialized)
struct PortalRouteTests {
    static let publicURL = "http://127.0.0.1"

    static func withPortal(_ body: @escaping @Sendable (PortalFixture, inout PortalBrowser) async throws -> Void) async throws {
        try await PortalFixture.with { fixture in
            let services = await fixture.services(publicURL: publicURL)
            try await LedgerServer.application(services, port: 0).test(.router) { client in
                var browser = PortalBrowser(client: client)
                try await body(fixture, &browser)
            }
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func everyPortalResponseCarriesTheSecurityHeaders() async throws {
        try await Self.withPortal { _, browser in
            for uri in ["/portal/sign-in", "/portal/static/portal.css", "/portal/static/verify.js", "/portal/explorer", "/portal/static/nope"] {
                let page = try await browser.get(uri)
                let policy = try #require(page.headers[.contentSecurityPolicy], "\(uri)")
                #expect(policy.hasPrefix("default-src 'self';") && policy.contains("frame-ancestors 'none'") && !policy.contains("unsafe-inline"), "\(uri)")
                #expect(page.headers[.xContentTypeOptions] == "nosniff", "\(uri)")
                #expect(page.headers[HTTPField.Name("Referrer-Policy")!] == "same-origin", "\(uri)")
            }
            let signIn = try await browser.get("/portal/sign-in")
            let cookie = try #require(signIn.headers[values: .setCookie].first { $0.hasPrefix("careledger_portal=") })
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/portal"), "\(cookie)")
            #expect(!cookie.contains("Secure"), "plain http on loopback: a Secure cookie would not come back")
            // No inline script or style anywhere: every script has a src, no style attributes or elements.
            for page in [signIn.body] {
                #expect(!page.contains("<script>") && !page.contains("<script type=\"module\">") && !page.contains("style=") && !page.contains("<style"))
                #expect(page.contains("<main") && page.contains("<header") && page.contains("lang=\"en\""))
            }
            #expect(try await browser.get("/portal/static/..%2Fportal.css").status == .notFound)
            #expect(try await browser.get("/portal/static/verify.js").headers[.contentType] == "text/javascript; charset=utf-8")
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aKeyFileSignsInAndTheExplorerShowsWhatV1Shows() async throws {
        try await Self.withPortal { fixture, browser in
            let form = try await browser.get("/portal/sign-in")
            let pendingCookie = try #require(browser.cookie)
            let csrf = try #require(form.field("csrf"))
            // A wrong passphrase is refused on the form, with the reason.
            let wrong = try await browser.postKeyFile(csrf: csrf, file: try PortalFixture.keyFile("auditor", fixture.auditor, passphrase: "right"),
                                                      passphrase: "wrong")
            #expect(wrong.status == .badRequest && wrong.body.contains("passphrase does not open"), "\(wrong.body.prefix(3_000))")
            // A file sealed at more than the standard scrypt cost is refused before any work.
            let costly = try await browser.postKeyFile(csrf: wrong.field("csrf"), file: try PortalFixture.keyFile("auditor", fixture.auditor, passphrase: "p",
                                                                                                                  cost: ScryptCost(logN: 16, r: 8, p: 1)),
                                                       passphrase: "p")
            #expect(costly.status == .badRequest && costly.body.contains("higher scrypt cost"))
            let signedIn = try await browser.postKeyFile(csrf: costly.field("csrf"), file: try PortalFixture.keyFile("auditor", fixture.auditor, passphrase: "p"),
                                                         passphrase: "p")
            #expect(signedIn.status == .seeOther && signedIn.headers[.location] == "/portal/explorer")
            #expect(browser.cookie != nil && browser.cookie != pendingCookie, "the session id changes at sign-in")
            let explorer = try await browser.get("/portal/explorer")
            #expect(explorer.status == .ok)
            let head = await fixture.node.headHeader
            #expect(explorer.body.contains("\(head.logSize) transactions") && explorer.body.contains(head.logRoot.base64))
            #expect(explorer.body.contains("Audrey Auditor"), "the header names who is signed in")
            // The same view as GET /v1/txs: the hospital's auditor reads the hospital's enrollments, not the clinic's.
            let view = await LedgerView.of(fixture.node, audit: fixture.access)
            let me = try #require(Directory.identity(fixture.auditor.derivedID, in: fixture.node.state))
            let page = try view.recentTransactions(in: fixture.node.store, before: head.logSize, limit: PortalLimits.transactionsPerPage, requester: me)
            let redacted = page.transactions.filter { $0["redacted"] as? Bool == true }.count
            #expect(redacted > 0 && redacted < page.transactions.count)
            #expect(explorer.body.components(separatedBy: "not yours to see").count - 1 == redacted)
            // A label is HTML-escaped (the clinician's label is "Dr. <Cleo> & Co").
            #expect(!explorer.body.contains("<Cleo>"))
            let root = try await browser.get("/portal")
            #expect(root.headers[.location] == "/portal/explorer")
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func everyFormWithoutItsCSRFTokenIsRefused() async throws {
        try await Self.withPortal { fixture, browser in
            let form = try await browser.get("/portal/sign-in")
            let keyFile = try PortalFixture.keyFile("auditor", fixture.auditor, passphrase: nil)
            #expect(try await browser.postKeyFile(csrf: nil, file: keyFile, passphrase: "").status == .forbidden)
            #expect(try await browser.postKeyFile(csrf: "forged", file: keyFile, passphrase: "").status == .forbidden)
            #expect(try await browser.post("/portal/sign-in/assertion", form: ["assertion": "x.y.z"]).status == .forbidden)
            // The right token from another origin is refused too.
            let foreign = try await browser.postKeyFile(csrf: form.field("csrf"), file: keyFile, passphrase: "")
            #expect(foreign.status == .seeOther, "same origin (no Origin header) signs in")
            let explorer = try await browser.get("/portal/explorer")
            let csrf = try #require(explorer.field("csrf"))
            #expect(try await browser.post("/portal/sign-out", form: [:]).status == .forbidden)
            #expect(try await browser.post("/portal/sign-out", form: ["csrf": csrf], headers: [.origin: "https://evil.example"]).status == .forbidden)
            #expect(try await browser.get("/portal/explorer").status == .ok, "still signed in after the refused sign-outs")
            let out = try await browser.post("/portal/sign-out", form: ["csrf": csrf], headers: [.origin: Self.publicURL])
            #expect(out.status == .seeOther && out.headers[.location] == "/portal/sign-in")
            #expect(try await browser.get("/portal/explorer").headers[.location] == "/portal/sign-in", "signed out")
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aBrowserKeySignsTheChallengeOnce() async throws {
        try await Self.withPortal { fixture, browser in
            let tokenURL = Self.publicURL + "/auth/token"
            let form = try await browser.get("/portal/sign-in")
            let challenge = try #require(form.field("challenge"))
            #expect(form.field("token-url") == tokenURL)
            // An assertion for another jti than the challenge is refused (and uses up the challenge).
            let other = try await browser.post("/portal/sign-in/assertion", form: [
                "csrf": try #require(form.field("csrf")), "assertion": browserAssertion(fixture.clinician, tokenURL: tokenURL, jti: "not-the-challenge"),
            ])
            #expect(other.status == .badRequest && other.body.contains("challenge"))
            let again = try await browser.post("/portal/sign-in/assertion", form: [
                "csrf": try #require(form.field("csrf")), "assertion": browserAssertion(fixture.clinician, tokenURL: tokenURL, jti: challenge),
            ])
            #expect(again.status == .forbidden, "the refused form's session was replaced: its CSRF token is stale")
            // A fresh form, answered right: signed in as the clinician.
            let fresh = try await browser.get("/portal/sign-in")
            let assertion = browserAssertion(fixture.clinician, tokenURL: tokenURL, jti: try #require(fresh.field("challenge")))
            let signedIn = try await browser.post("/portal/sign-in/assertion", form: ["csrf": try #require(fresh.field("csrf")), "assertion": assertion])
            #expect(signedIn.status == .seeOther, "\(signedIn.body.prefix(2_000))")
            let explorer = try await browser.get("/portal/explorer")
            #expect(explorer.body.contains("Dr. &lt;Cleo&gt; &amp; Co"), "labels are escaped")
            // The same assertion again, on a fresh form: it answers another challenge, and its jti is spent anyway.
            var second = PortalBrowser(client: browser.client)
            let secondForm = try await second.get("/portal/sign-in")
            let replay = try await second.post("/portal/sign-in/assertion", form: ["csrf": try #require(secondForm.field("csrf")), "assertion": assertion])
            #expect(replay.status == .badRequest)
            // Signed by a key the ledger does not know: refused by the token service.
            var stranger = PortalBrowser(client: browser.client)
            let strangerForm = try await stranger.get("/portal/sign-in")
            let unknown = IdentityKeys(seed: Array(repeating: 99, count: 32))
            let refused = try await stranger.post("/portal/sign-in/assertion", form: [
                "csrf": try #require(strangerForm.field("csrf")),
                "assertion": browserAssertion(unknown, tokenURL: tokenURL, jti: try #require(strangerForm.field("challenge"))),
            ])
            #expect(refused.status == .badRequest && refused.body.contains("no identity"), "\(refused.body.prefix(2_000))")
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func theProofBundleVerifiesWithTheSwiftVerifier() async throws {
        try await Self.withPortal { fixture, browser in
            _ = try await browser.signIn(fixture.auditor)
            let head = await fixture.node.headHeader
            let leaf = MerkleHashing.leafHash(try #require(try fixture.node.store.transactionBytes(logIndex: 3)))
            let answer = try await browser.get("/portal/explorer/proof?leaf=\(leaf.base64.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)")
            #expect(answer.status == .ok, "\(answer.body)")
            let bundle = try #require(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])
            let sth = try #require(bundle["sth"] as? [String: Any]), inclusion = try #require(bundle["inclusion"] as? [String: Any])
            let consistency = try #require(bundle["consistency"] as? [String: Any])
            func hash(_ value: Any?) throws -> Hash256 { try #require((value as? String).flatMap(Base64.decode).flatMap(Hash256.init(bytes:))) }
            let root = try hash(sth["sha256_root_hash"])
            #expect(sth["tree_size"] as? Int == Int(head.logSize) && root == head.logRoot)
            try MerkleVerifier.verifyInclusion(leafHash: try hash(inclusion["leaf_hash"]), index: 3, size: head.logSize,
                                               proof: try (inclusion["audit_path"] as? [String] ?? []).map(hash), root: root)
            let first = UInt64(try #require(consistency["first"] as? Int))
            #expect(first < head.logSize, "the leaf's block is not the head here")
            try MerkleVerifier.verifyConsistency(first: first, second: head.logSize, firstRoot: try hash(consistency["first_root"]), secondRoot: root,
                                                 proof: try (consistency["proof"] as? [String] ?? []).map(hash))
            let message = SignedTreeHead.message(timestampMs: UInt64(head.timeMs), treeSize: head.logSize, root: root)
            let signature = try #require((sth["tree_head_signature"] as? String).flatMap(SignedTreeHead.signature(digitallySigned:)))
            #expect(fixture.nodeKeys.signing.publicKey.isValidSignature(signature, for: message))
            // Bad input: a 400 with a reason; signed out: a 401.
            #expect(try await browser.get("/portal/explorer/proof?leaf=nothex").status == .badRequest)
            #expect(try await browser.get("/portal/explorer/proof?leaf=\(leaf.base64)&first=0").status == .badRequest)
            var anonymous = PortalBrowser(client: browser.client)
            #expect(try await anonymous.get("/portal/explorer/proof?leaf=\(leaf.base64)").status == .unauthorized)
        }
    }

    /// Sessions: expiry with the token, a new id at sign-in, a bounded number per identity and of sign-in forms.
    @Test func sessionsExpireAndAreBounded() {
        let clock = ManualClock()
        let sessions = PortalSessions(now: { clock.now })
        let identity = Hash256.sha256([1])
        let pending = sessions.startSignIn()
        #expect(sessions.takeChallenge(pending.id) != nil && sessions.takeChallenge(pending.id) == nil, "a challenge answers once")
        let session = sessions.signIn(replacing: pending.id, identity: identity, token: "t", expiresInSeconds: 900)
        #expect(session.id != pending.id && sessions.session(pending.id) == nil)
        clock.advance(seconds: 899)
        #expect(sessions.session(session.id) != nil)
        clock.advance(seconds: 1)
        #expect(sessions.session(session.id) == nil, "the session ends with its token")
        var ids: [String] = []
        for _ in 0..<(PortalLimits.sessionsPerIdentityMax + 2) {
            ids.append(sessions.signIn(replacing: sessions.startSignIn().id, identity: identity, token: "t", expiresInSeconds: 900).id)
            clock.advance(seconds: 1)
        }
        #expect(sessions.counts.signedIn == PortalLimits.sessionsPerIdentityMax)
        #expect(sessions.session(ids[0]) == nil && sessions.session(ids.last!) != nil, "the oldest are signed out first")
        for _ in 0..<(PortalLimits.pendingMax + 5) { _ = sessions.startSignIn() }
        #expect(sessions.counts.pending == PortalLimits.pendingMax)
        clock.advance(seconds: TimeInterval(PortalLimits.pendingSeconds + 1))
        _ = sessions.startSignIn()
        #expect(sessions.counts.pending == 1, "expired sign-in forms are dropped")
    }
}

/// A wall clock the test moves by hand.
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var seconds: TimeInterval = 1_900_000_000
    var now: Date { lock.withLock { Date(timeIntervalSince1970: seconds) } }
    func advance(seconds delta: TimeInterval) { lock.withLock { seconds += delta } }
}
