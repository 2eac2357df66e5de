"""One fake per port, for unit tests (and the integration tests that need a stand-in).

Repository ports run the real MongoDB repositories over mongomock (`database.on_mongomock`),
some with what tests look at added (`Mongomock...` subclasses: rows, recorded calls). Where
mongomock cannot run a repository, or tests need what MongoDB cannot store, there is one
hand-written fake instead. tests/contract/ runs the same cases on each of them and on MongoDB
over the real wire server.

    port                        unit tests use                           module
    UserRepository              MongoUserRepository on mongomock          identity
    SessionRepository           MongomockSessionRepository                identity
    OneTimeTokenRepository      MongomockOneTimeTokenRepository           identity
    PasswordHasher, Mailer      PlainHasher, FakeMailer                   identity
    WorkspaceRepository         MongomockWorkspaceRepository (rows)      workspaces
    MembershipRepository        MongoMembershipRepository on mongomock    workspaces
    (WorkspaceAccess)           FakeAccess                                workspaces
    ProviderKeyRepository       MongoProviderKeyRepository on mongomock   identity
    AuditLog                    MongomockAuditLog                         shared
    EventBus, Subscription      FakeEventBus, FakeSubscription            shared
    Encryptor, OutboundHttp     FakeEncryptor, FakeOutboundHttp           shared
    (clocks)                    FakeClock                                 shared
    LLMGateway                  FakeLLMGateway                            gateway
    ProviderCredentials         FakeProviderCredentials                   gateway
    ApiKeyRepository            MongomockApiKeyRepository                 gateway
    UsageRepository             MongomockUsageRepository                  gateway
    SpendRepository             FakeSpendRepository (hand-written)        gateway
    FileRepository              MongoFileRepository on mongomock          files
    BlobStorage                 MongomockBlobStorage (GridFSStorage)      files
    StorageUsage                MongoStorageUsage on mongomock            files
    ContentSniffer, LinkSigner  FakeContentSniffer, FakeLinkSigner        files
    TextExtractor               FakeTextExtractor                         files
    ExtractedTextRepository     MongoExtractedTextRepository              files
    TalkRepository              MongomockTalkRepository (no $text)        chat
    MessageRepository           MongomockMessageRepository (no $text)     chat
    FileContext                 FakeFileContext                           chat
    FileTexts, RunObserver      FakeFileTexts, FakeRunObserver            workflows
    WebhookRepository           FakeWebhookRepository (hand-written)      webhooks
    DeliveryRepository          MongomockDeliveryRepository               webhooks
    Metrics                     FakeMetrics                               metrics
    McpClient                   FakeMcpClient                             mcp

The worlds `identity.Identity`, `files.FileWorld` and `chat.TalkWorld` build an area's use cases
on these with the area's bootstrap builder, over one in-memory database.
"""
