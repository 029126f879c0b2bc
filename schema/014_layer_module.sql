-- 014_layer_module.sql: the name of each adapted module (docs/database.md).
--
-- layers.module is the name a trainer gives the module a layer adapts
-- (task gpt: "h.0.attn.c_attn"; a command task's trainer: its own names,
-- e.g. PEFT's), from the start record's layers[].module; NULL for the
-- worker's other tasks, whose layers are numbered only.

ALTER TABLE layers ADD COLUMN module TEXT;
