;; bigmem: a command whose unexported initial memory (8192 pages, 512 MiB)
;; is above the default 256 MB limit: the stock "exhausted its memory"
;; error, never a panic (issue 10, case 2).
(module
  (memory 8192)
  (func (export "_start")))
