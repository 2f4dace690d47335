import Foundation
import TestSupport
import WheelAudit
import XCTest

/// Compares wheelfarm's verdicts on real wheels from the package index with auditwheel's,
/// recorded as golden files by `ci/fixtures/record-goldens.sh`.
final class AuditwheelAgreementIntegrationTests: XCTestCase {
    struct Golden: Decodable {
        var wheel: String
        var overall_tag: String
        var sym_tag: String
        var versioned_symbols: [String: [String]]
        var external_libs: [String: String?]
        var unsupported_isa: Bool
        var pyfpe: Bool
    }

    func testVerdictsMatchAuditwheelOnRealWheels() throws {
        let goldenDir = "\(TestSupport.repositoryRoot)/Tests/Fixtures/golden"
        let files = try FileManager.default.contentsOfDirectory(atPath: goldenDir).filter { $0.hasSuffix(".json") }.sorted()
        XCTAssertGreaterThanOrEqual(files.count, 12, "the agreement corpus must hold at least 12 wheels")
        let catalog = try PolicyCatalog.load(dataDirectory: TestSupport.repositoryRoot)
        let analyzer = WheelAnalyzer(catalog: catalog)
        var compared = 0
        var missing: [String] = []
        for file in files {
            let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: "\(goldenDir)/\(file)")))
            let wheelPath = "\(TestSupport.fixtureWheels)/\(golden.wheel)"
            guard FileManager.default.fileExists(atPath: wheelPath) else { missing.append(golden.wheel); continue }
            let analysis = try analyzer.analyze(path: wheelPath)
            let report = analysis.report
            XCTAssertEqual(report.platformTag, golden.overall_tag, golden.wheel)
            XCTAssertEqual(report.symbolTag, golden.sym_tag, golden.wheel)
            XCTAssertEqual(report.symbolVersions, golden.versioned_symbols.mapValues { $0.sorted() }, golden.wheel)
            let strictest = try XCTUnwrap(analysis.policies.max { $0.priority < $1.priority })
            XCTAssertEqual(Set(analysis.graftRequirements(for: strictest).keys), Set(golden.external_libs.keys), golden.wheel)
            XCTAssertEqual(report.findings.contains { $0.contains("x86-64-v") }, golden.unsupported_isa, golden.wheel)
            XCTAssertTrue(report.isCompliant, "\(golden.wheel) is published as compliant: \(report.findings)")
            compared += 1
        }
        if !missing.isEmpty {
            let message = "fixture wheels missing (run ci/fixtures/fetch-wheels.sh): \(missing.joined(separator: ", "))"
            if TestSupport.inCI || compared == 0 { XCTFail(message) }
        }
        XCTAssertGreaterThanOrEqual(compared, TestSupport.inCI ? 12 : 1)
    }
}
