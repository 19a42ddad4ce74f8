-- A decision-log database made by Docket at commit cfa050b (schema revision 0002):
-- two API keys (one revoked), a stop switch, four chained entries, three payloads.
BEGIN TRANSACTION;
CREATE TABLE api_keys (
	key_id VARCHAR(16) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	role VARCHAR(32) NOT NULL, 
	key_hash VARCHAR(64) NOT NULL, 
	created_at VARCHAR(40) NOT NULL, 
	revoked_at VARCHAR(40), 
	CONSTRAINT pk_api_keys PRIMARY KEY (key_id)
);
INSERT INTO "api_keys" VALUES('bda70888a177','fixture app','application','fd8debfa039383d356af1fa504514e7741489e0b37105c57ae3f9da82837808a','2026-11-23T12:59:04.493375+00:00',NULL);
INSERT INTO "api_keys" VALUES('ca107ce65a21','fixture auditor','auditor','6b9d1d119f37204824b71a2b39b1f9a345ff423f6635bef21ff6c3fec80fc9aa','2026-11-23T12:59:04.499763+00:00','2026-11-23T12:59:04.501516+00:00');
CREATE TABLE chain_head (
	id INTEGER NOT NULL, 
	seq BIGINT NOT NULL, 
	entry_hash VARCHAR(64) NOT NULL, 
	CONSTRAINT pk_chain_head PRIMARY KEY (id), 
	CONSTRAINT ck_chain_head_ck_chain_head_single_row CHECK (id = 1)
);
INSERT INTO "chain_head" VALUES(1,4,'f9d345d12e88933fadcbe860096224813fea1c461215626134eea2d3db2c9e87');
CREATE TABLE log_alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT log_alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO "log_alembic_version" VALUES('0002');
CREATE TABLE log_entries (
	seq BIGINT NOT NULL, 
	entry_id VARCHAR(36) NOT NULL, 
	kind VARCHAR(32) NOT NULL, 
	use_case VARCHAR(200) NOT NULL, 
	subject_id VARCHAR(200), 
	recorded_at VARCHAR(40) NOT NULL, 
	digest TEXT NOT NULL, 
	payload_hash VARCHAR(64), 
	prev_hash VARCHAR(64) NOT NULL, 
	entry_hash VARCHAR(64) NOT NULL, 
	CONSTRAINT pk_log_entries PRIMARY KEY (seq), 
	CONSTRAINT uq_log_entries_entry_id UNIQUE (entry_id), 
	CONSTRAINT uq_log_entries_entry_hash UNIQUE (entry_hash)
);
INSERT INTO "log_entries" VALUES(1,'1fa47934-212b-4a5a-90e9-755bfc703fde','admin','credit-eligibility','switch:credit-eligibility','2026-11-01T12:00:00.000000Z','{"action":"stop","at":"2026-11-01T12:00:00+00:00","by":"fixture admin","reason":"fixture: stopped before the upgrade"}',NULL,'0000000000000000000000000000000000000000000000000000000000000000','39fc04f7dd2eeac902d1fe072ff4cfda33224c0dd8443a65159be3fcd64adbd2');
INSERT INTO "log_entries" VALUES(2,'558df63c-2010-4f06-ad48-ed40f768a221','decision','credit-eligibility','d0','2026-11-01T12:00:00.000000Z','{"decision_id":"d0","outcome":"referred","score":0.5}','689cc00636e0a0ca6dd39513d6b7e07168dda02278c13d7b444270ab5c76e97c','39fc04f7dd2eeac902d1fe072ff4cfda33224c0dd8443a65159be3fcd64adbd2','e39332b88553aa4ac1f6506417d56559c8ec728ff8e38c1be0b17f7ac9d949c1');
INSERT INTO "log_entries" VALUES(3,'0c97ffab-83a3-434c-8cba-b1c1525e0b32','decision','credit-eligibility','d1','2026-11-01T12:00:00.000000Z','{"decision_id":"d1","outcome":"referred","score":0.6}','cbdf5fd6c7f084a8c8fa00b0504f41548e92c821dd29be13ba9002f09eaf872a','e39332b88553aa4ac1f6506417d56559c8ec728ff8e38c1be0b17f7ac9d949c1','75d430434415be10026a36d469ec6649f7121b52be0d86a522a0a7baba015ea5');
INSERT INTO "log_entries" VALUES(4,'62cbf857-3b7f-4588-a6be-6b945fca32b4','decision','credit-eligibility','d2','2026-11-01T12:00:00.000000Z','{"decision_id":"d2","outcome":"referred","score":0.7}','6c34cec6e565bdec0f856f0799a08ebaa63909b3b67b06052bc4c04c3886ed6b','75d430434415be10026a36d469ec6649f7121b52be0d86a522a0a7baba015ea5','f9d345d12e88933fadcbe860096224813fea1c461215626134eea2d3db2c9e87');
CREATE TABLE payloads (
	entry_id VARCHAR(36) NOT NULL, 
	payload TEXT, 
	salt VARCHAR(64), 
	erased_at VARCHAR(40), 
	erasure_reason TEXT, 
	CONSTRAINT pk_payloads PRIMARY KEY (entry_id), 
	CONSTRAINT fk_payloads_entry_id_log_entries FOREIGN KEY(entry_id) REFERENCES log_entries (entry_id)
);
INSERT INTO "payloads" VALUES('558df63c-2010-4f06-ad48-ed40f768a221','{"application_ref":"A-0","features":{"Income":100}}','6c1b97fb10adb9afae6a81547df1ed0d',NULL,NULL);
INSERT INTO "payloads" VALUES('0c97ffab-83a3-434c-8cba-b1c1525e0b32','{"application_ref":"A-1","features":{"Income":101}}','e0bd2331890eef9413750391a7203795',NULL,NULL);
INSERT INTO "payloads" VALUES('62cbf857-3b7f-4588-a6be-6b945fca32b4','{"application_ref":"A-2","features":{"Income":102}}','c5a955578766d45e0f20c160f53811ba',NULL,NULL);
CREATE TABLE use_case_switches (
	use_case VARCHAR(200) NOT NULL, 
	stopped BOOLEAN NOT NULL, 
	changed_at VARCHAR(40) NOT NULL, 
	changed_by VARCHAR(200) NOT NULL, 
	reason TEXT NOT NULL, 
	CONSTRAINT pk_use_case_switches PRIMARY KEY (use_case)
);
INSERT INTO "use_case_switches" VALUES('credit-eligibility',1,'2026-11-01T12:00:00+00:00','fixture admin','fixture: stopped before the upgrade');
CREATE INDEX ix_log_entries_subject_id ON log_entries (subject_id);
CREATE INDEX ix_log_entries_use_case_kind ON log_entries (use_case, kind);
COMMIT;
