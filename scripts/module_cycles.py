#!/usr/bin/env python3
"""Fails when a crate's modules import each other in a cycle.

A module's imports are the paths it names in code (comments and test
modules left out): `crate::a::b`, `super::x`, and types the crate root
re-exports (`crate::Service` is `service`). A module and its own
submodules do not count as an import of each other. Usage:

    python3 scripts/module_cycles.py
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

def modules(crate):
    root=os.path.join(ROOT, crate, 'src')
    mods={}
    for dp,_,fs in os.walk(root):
        for f in fs:
            if not f.endswith('.rs'): continue
            p=os.path.join(dp,f); rel=os.path.relpath(p,root)[:-3]
            parts=rel.split('/')
            if parts[-1] in ('mod','lib','main'): parts=parts[:-1]
            if parts and parts[-1] in ('tests','https_tests'): continue
            name='::'.join(parts) or 'crate'
            src=open(p).read()
            src=src.split('#[cfg(test)]')[0]
            src='\n'.join(l for l in src.split('\n') if not l.strip().startswith('//'))
            mods[name]=src
    return mods
def reexports(mods):
    root=mods.get('crate','')
    out={}
    for m,items in re.findall(r'pub use ([a-z_]+)::\{([^}]*)\};',root):
        for it in items.split(','):
            it=it.strip().split(' as ')[-1].strip()
            if it: out[it]=m
    for m,it in re.findall(r'pub use ([a-z_]+)::([A-Za-z_]+);',root):
        out[it]=m
    return out
def edges(mods):
    E={m:set() for m in mods}
    rx=reexports(mods)
    for m,src in mods.items():
        for name in re.findall(r'crate::([A-Z][A-Za-z]+)',src):
            t=rx.get(name)
            if t and t!=m and t in mods and not m.startswith(t+'::'):
                E[m].add(t)
    names=sorted(mods,key=len,reverse=True)
    for m,src in mods.items():
        for ref in re.findall(r'crate::([a-z_]+(?:::[a-z_]+)*)',src):
            parts=ref.split('::')
            # longest module prefix
            for k in range(len(parts),0,-1):
                cand='::'.join(parts[:k])
                if cand in mods:
                    if cand!=m and not m.startswith(cand+'::') and not cand.startswith(m+'::'):
                        E[m].add(cand)
                    break
        for ref in re.findall(r'\bsuper::([a-z_]+)',src):
            parent='::'.join(m.split('::')[:-1])
            cand=(parent+'::'+ref) if parent else ref
            if cand in mods and cand!=m: E[m].add(cand)
    return E
def cycles(E):
    found=[]
    for a in E:
        for b in E[a]:
            if a in E.get(b,()): found.append(tuple(sorted((a,b))))
    # longer cycles via DFS
    seen=set(); stack=[]; on=set(); res=[]
    def dfs(u):
        seen.add(u); stack.append(u); on.add(u)
        for v in E[u]:
            if v not in seen: dfs(v)
            elif v in on: res.append(stack[stack.index(v):]+[v])
        stack.pop(); on.discard(u)
    for u in E:
        if u not in seen: dfs(u)
    return sorted(set(found)), res
failed = False
for crate in ['harness', 'scenarios', 'loadtests', 'reports']:
    E = edges(modules(crate))
    _, found = cycles(E)
    if found:
        failed = True
        for c in found:
            print(f"{crate}: module cycle {' -> '.join(c)}")
    else:
        print(f"{crate}: no module cycle")
sys.exit(1 if failed else 0)
