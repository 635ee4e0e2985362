import Testing
@testable import QuarryIngest

@Test func placeholder() { #expect(stableID("a").count == 16) }
